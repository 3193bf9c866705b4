// Local OpenID Provider for rocket_oidc_auth's integration tests.
//
// Wraps panva's `oidc-provider` (see package.json for the pinned version) with a
// test-friendly configuration: any login/password is accepted (devInteractions),
// PKCE S256 is mandatory, refresh tokens are always issued, signing keys are
// fixed (keys.json), and no page loads anything from the internet.
//
// Protocol with whoever starts it (the Rust test harness, a shell script...):
//   * stdout carries exactly ONE line, once the provider is ready:
//       OP_READY {"issuer":"http://127.0.0.1:PORT","port":PORT}
//     Everything else (logs, library warnings) goes to stderr.
//   * When its stdin is a pipe, it exits as soon as that pipe is closed (so a
//     dying parent never leaks it). It always exits on SIGINT / SIGTERM /
//     SIGHUP. When stdin is not a pipe (/dev/null, a terminal, a file), the
//     stdin watch is off and only signals stop it; OP_IGNORE_STDIN=1 turns
//     the watch off even for a pipe.
//
// Environment (all optional; see README.md):
//   OP_PORT                 port to listen on, 0 = any free port (default 0)
//   OP_HOST                 host name in the issuer URL (default 127.0.0.1);
//                           the socket is always bound to 127.0.0.1
//   OP_CLIENTS              JSON array of client metadata (default: rocket-app)
//   OP_TTL_ACCESS_TOKEN     seconds (default 3600)
//   OP_TTL_ID_TOKEN         seconds (default 3600)
//   OP_TTL_REFRESH_TOKEN    seconds (default 86400)
//   OP_TTL_SESSION          seconds (default 86400)
//   OP_ROTATE_REFRESH_TOKENS=1  rotate the refresh token on every refresh
//   OP_IGNORE_STDIN=1       do not exit when stdin (a pipe) closes
//   OP_VERBOSE=1            log every request and all library notices to stderr
//   OP_TLS_CERT, OP_TLS_KEY paths of a PEM certificate (chain) and its key: serve https
//   OP_ACR_VALUES=a,b       supported acr values; a login at the test pages gets the first
//                           requested acr_values entry among them (else the first of them)
// Client registration and authentication (0/1 flags; unset = default):
//   OP_REGISTRATION=1       dynamic registration at /reg (+ RFC 7592 management)
//   OP_INITIAL_ACCESS_TOKEN registration needs `Authorization: Bearer <this>`
//   OP_REGISTRATION_TTL     seconds: registered secrets expire (client_secret_expires_at)
//   OP_ROTATE_REGISTRATION_ACCESS_TOKEN=0  keep the registration access token on update
//   OP_PAR=0|1              pushed authorization requests at /request (default on)
//   OP_REQUIRE_PAR=1        PAR mandatory for every client
//   OP_DPOP=0|1             DPoP (default on)
//   OP_DPOP_NONCE=1         every DPoP proof must carry a server nonce
//   OP_REQUEST_OBJECTS=1|required  RFC 9101 request objects accepted (or required)
//   OP_ENCRYPTION=1         JWE ID tokens and UserInfo, signed UserInfo (clients that register them)
//   OP_FRONTCHANNEL=1       the logout page frames each client's frontchannel_logout_uri first
// FAPI 2.0 (README.md: "FAPI 2.0, mutual TLS and JARM"):
//   OP_TLS_CA               path of a CA PEM (needs OP_TLS_CERT/OP_TLS_KEY): mutual TLS (RFC
//                           8705): every connection is asked for a client certificate (none
//                           is fine), tls_client_auth against this CA,
//                           self_signed_tls_client_auth, certificate-bound access tokens. A
//                           client's `tls_client_certificate_file` (a PEM path) becomes its
//                           `jwks` with that certificate in `x5c` (self-signed clients)
//   OP_FAPI=1               the FAPI 2.0 Security Profile (needs https and OP_CLIENTS): PAR
//                           required, code only, PS256/ES256/EdDSA only, private_key_jwt or
//                           mutual TLS only
//   OP_JARM=1               JWT-secured authorization responses (response_mode jwt, ...)
// Bearer-token APIs (README.md: "Bearer tokens"):
//   OP_RESOURCE=<uri>       one resource server (RFC 8707 resource indicator) at that URI
//   OP_RESOURCE_SCOPES      its scopes, space-separated (default "read write admin")
//   OP_RESOURCE_FORMAT      jwt (RFC 9068, default) | opaque: its access tokens' format
//   OP_RESOURCE_TTL         seconds: its access tokens' lifetime (default OP_TTL_ACCESS_TOKEN)
//   OP_RESOURCE_ALG         JWS alg of its JWT access tokens (default RS256)
//   OP_DEFAULT_RESOURCE=1   requests without `resource` (login and client credentials) get it
//   OP_USE_GRANTED_RESOURCE=0|1  token requests of the code flow without `resource` use the
//                           resource granted at /auth (default: same as OP_DEFAULT_RESOURCE)
//   OP_CC_SCOPES            extra provider scopes, e.g. for client credentials without resource
//   OP_TTL_CLIENT_CREDENTIALS  seconds (default: OP_RESOURCE_TTL for the resource, else
//                           OP_TTL_ACCESS_TOKEN)

import { randomBytes, X509Certificate } from 'node:crypto';
import { fstatSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

const env = process.env;
const verbose = env.OP_VERBOSE === '1';

// ---------------------------------------------------------------------------
// Keep stdout clean: only the OP_READY line may go there.
//
// oidc-provider prints its notices ("default X function called, you SHOULD
// change it...") with console.info, i.e. to stdout, and a few expected
// warnings with console.warn. Route console.log/info/debug to stderr and drop
// the warnings we know about (they are all expected in a test provider),
// unless OP_VERBOSE=1. This must happen BEFORE the library is imported, since
// it warns at import time about Node < 22 ("Unsupported runtime"); hence the
// dynamic import() below instead of a static import.
// ---------------------------------------------------------------------------
const log = (...args) => console.error('[op]', ...args);

// If the parent stops reading our stdout/stderr (e.g. it dropped the pipe after
// reading OP_READY), a later write fails with EPIPE: ignore that, keep serving.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

const EXPECTED_LIBRARY_NOISE = [
  'oidc-provider WARNING: Unsupported runtime', // Node 20: library wants 22+, works fine on 20.18+
  'oidc-provider WARNING: a quick start development-only in-memory adapter', // we want in-memory
  'oidc-provider WARNING: a quick start development-only feature devInteractions', // we want those
  'oidc-provider NOTICE:', // "default X function called, you SHOULD change it"
];
const isNoise = (args) => !verbose
  && typeof args[0] === 'string'
  && EXPECTED_LIBRARY_NOISE.some((prefix) => args[0].includes(prefix)); // includes: may be colour-wrapped

const originalWarn = console.warn;
console.warn = (...args) => { if (!isNoise(args)) originalWarn(...args); };
console.log = console.info = console.debug = (...args) => {
  if (!isNoise(args)) console.error(...args);
};

const { default: Provider, errors } = await import('oidc-provider');

// ---------------------------------------------------------------------------
// Settings from the environment.
// ---------------------------------------------------------------------------
function intFromEnv(name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    fail(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

// A positive integer, or undefined when unset (or empty).
function positiveIntFromEnv(name) {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    fail(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function fail(message) {
  log(`error: ${message}`);
  process.exit(1);
}

// A 0/1 switch: undefined when unset (or empty), else true / false.
function flagFromEnv(name) {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw === '1') return true;
  if (raw === '0') return false;
  return fail(`${name} must be 0 or 1, got ${JSON.stringify(raw)}`);
}

const port = intFromEnv('OP_PORT', 0);
const host = env.OP_HOST || '127.0.0.1';

const ttl = {
  accessToken: intFromEnv('OP_TTL_ACCESS_TOKEN', 3600),
  idToken: intFromEnv('OP_TTL_ID_TOKEN', 3600),
  refreshToken: intFromEnv('OP_TTL_REFRESH_TOKEN', 86400),
  session: intFromEnv('OP_TTL_SESSION', 86400),
  // undefined: client credentials tokens live as long as the resource's access
  // tokens (OP_RESOURCE_TTL) when they are for the resource, else OP_TTL_ACCESS_TOKEN.
  clientCredentials: positiveIntFromEnv('OP_TTL_CLIENT_CREDENTIALS'),
};

const DEFAULT_CLIENTS = [{
  client_id: 'rocket-app',
  client_secret: 'rocket-secret',
  redirect_uris: ['http://127.0.0.1:8000/redirect_uri'],
  post_logout_redirect_uris: ['http://127.0.0.1:8000/', 'http://127.0.0.1:8000/logout/callback'],
  backchannel_logout_uri: 'http://127.0.0.1:8000/logout/backchannel',
  backchannel_logout_session_required: true,
}];

function clientsFromEnv() {
  let clients = DEFAULT_CLIENTS;
  if (env.OP_CLIENTS) {
    try {
      clients = JSON.parse(env.OP_CLIENTS);
    } catch (err) {
      fail(`OP_CLIENTS is not valid JSON: ${err.message}`);
    }
    if (!Array.isArray(clients)) fail('OP_CLIENTS must be a JSON array of client metadata objects');
  }
  // Every client does the authorization code flow with refresh tokens unless
  // its metadata says otherwise. (token_endpoint_auth_method defaults to
  // client_secret_basic in the library.)
  return clients.map(({ tls_client_certificate_file: certificateFile, ...client }) => ({
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...client,
    ...(certificateFile ? { jwks: { keys: [certificateJwk(certificateFile)] } } : {}),
  }));
}

// The public JWK of the certificate at `file` (PEM), with the certificate in `x5c`: what
// self_signed_tls_client_auth matches a presented certificate against.
function certificateJwk(file) {
  const certificate = new X509Certificate(readFileSync(file));
  return { ...certificate.publicKey.export({ format: 'jwk' }), x5c: [certificate.raw.toString('base64')] };
}

const clients = clientsFromEnv();

// Client registration and authentication features (README.md: "Dynamic
// registration", "Pushed authorization requests", "DPoP"). Without any of these
// variables the provider behaves as the library does by default in 9.x: no
// registration, PAR on (not required), DPoP on (no nonce).
const registration = flagFromEnv('OP_REGISTRATION') === true;
const initialAccessToken = env.OP_INITIAL_ACCESS_TOKEN || undefined;
const registrationTtl = intFromEnv('OP_REGISTRATION_TTL', 0); // 0: secrets never expire
const rotateRegistrationAccessToken = flagFromEnv('OP_ROTATE_REGISTRATION_ACCESS_TOKEN') ?? true;
const par = flagFromEnv('OP_PAR') ?? true; // the library enables PAR by default
const requirePar = flagFromEnv('OP_REQUIRE_PAR') === true;
const dpop = flagFromEnv('OP_DPOP') ?? true; // the library enables DPoP by default
const dpopNonce = flagFromEnv('OP_DPOP_NONCE') === true;

if (!registration) {
  for (const name of ['OP_INITIAL_ACCESS_TOKEN', 'OP_REGISTRATION_TTL', 'OP_ROTATE_REGISTRATION_ACCESS_TOKEN']) {
    if (env[name]) fail(`${name} needs OP_REGISTRATION=1`);
  }
}
if (initialAccessToken !== undefined && !/^[\x21-\x7E]+$/.test(initialAccessToken)) {
  fail('OP_INITIAL_ACCESS_TOKEN must be printable ASCII without spaces');
}
if (requirePar && !par) fail('OP_REQUIRE_PAR=1 needs PAR (drop OP_PAR=0)');

// FAPI 2.0: mutual TLS (OP_TLS_CA), the profile (OP_FAPI), JARM (OP_JARM).
const mtls = Boolean(env.OP_TLS_CA);
const fapi = flagFromEnv('OP_FAPI') === true;
const jarm = flagFromEnv('OP_JARM') === true;
if (mtls && !(env.OP_TLS_CERT && env.OP_TLS_KEY)) fail('OP_TLS_CA needs OP_TLS_CERT and OP_TLS_KEY (https)');
if (fapi && !(env.OP_TLS_CERT && env.OP_TLS_KEY)) fail('OP_FAPI=1 needs https (OP_TLS_CERT, OP_TLS_KEY)');
if (fapi && !env.OP_CLIENTS) fail('OP_FAPI=1 needs OP_CLIENTS (the default client authenticates with a secret)');
if (fapi && !par) fail('OP_FAPI=1 needs PAR (drop OP_PAR=0)');
if (fapi && env.OP_ROTATE_REFRESH_TOKENS === '1') fail('OP_FAPI=1: FAPI 2.0 does not rotate refresh tokens');
// FAPI 2.0 Security Profile 5.4.1: JWS algorithms.
const FAPI_ALGS = ['PS256', 'ES256', 'EdDSA'];
if (dpopNonce && !dpop) fail('OP_DPOP_NONCE=1 needs DPoP (drop OP_DPOP=0)');

// Bearer-token APIs (README.md: "Bearer tokens"). Without any of these
// variables the provider behaves as before: resource indicators are on (the
// library's default in 9.x) but every `resource` value is refused with
// invalid_target, and client credentials tokens carry only the provider's own
// scopes.
const resource = env.OP_RESOURCE || undefined;
const resourceScopes = (env.OP_RESOURCE_SCOPES || 'read write admin').split(' ').filter(Boolean);
const resourceFormat = env.OP_RESOURCE_FORMAT || 'jwt';
const resourceTtl = positiveIntFromEnv('OP_RESOURCE_TTL');
const resourceAlg = env.OP_RESOURCE_ALG || undefined;
const defaultResource = flagFromEnv('OP_DEFAULT_RESOURCE') === true;
const useGrantedResource = flagFromEnv('OP_USE_GRANTED_RESOURCE') ?? defaultResource;
const ccScopes = (env.OP_CC_SCOPES || '').split(' ').filter(Boolean);

// RFC 6749 scope-token: %x21 / %x23-5B / %x5D-7E.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
for (const [name, list] of [['OP_RESOURCE_SCOPES', resourceScopes], ['OP_CC_SCOPES', ccScopes]]) {
  const bad = list.find((scope) => !SCOPE_TOKEN.test(scope));
  if (bad !== undefined) fail(`${name}: invalid scope ${JSON.stringify(bad)}`);
}
if (resource === undefined) {
  for (const name of ['OP_RESOURCE_SCOPES', 'OP_RESOURCE_FORMAT', 'OP_RESOURCE_TTL', 'OP_RESOURCE_ALG', 'OP_DEFAULT_RESOURCE', 'OP_USE_GRANTED_RESOURCE']) {
    if (env[name]) fail(`${name} needs OP_RESOURCE`);
  }
} else {
  // What the library itself demands of a resource indicator: an absolute URI
  // without fragment. Clients must send exactly this string.
  let url;
  try { url = new URL(resource); } catch { fail(`OP_RESOURCE must be an absolute URI, got ${JSON.stringify(resource)}`); }
  if (url.hash || resource.includes('#')) fail('OP_RESOURCE must not contain a fragment');
  if (!['jwt', 'opaque'].includes(resourceFormat)) fail(`OP_RESOURCE_FORMAT must be jwt or opaque, got ${JSON.stringify(resourceFormat)}`);
  if (resourceAlg !== undefined && resourceFormat !== 'jwt') fail('OP_RESOURCE_ALG needs OP_RESOURCE_FORMAT=jwt');
}
// Algs keys.json can sign with (see "Signing keys and algorithms" in README.md).
const RESOURCE_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];
if (resourceAlg !== undefined && !RESOURCE_ALGS.includes(resourceAlg)) {
  fail(`OP_RESOURCE_ALG must be one of ${RESOURCE_ALGS.join(' ')}, got ${JSON.stringify(resourceAlg)}`);
}

// Private signing JWKs, generated once by gen-keys.mjs: RSA `test-rs256` (no
// `alg`: it signs RS256/384/512 and PS256/384/512, and is the default RS256
// key), EC P-256 `test-es256` (ES256), EC P-384 `test-es384` (ES384), OKP
// Ed25519 `test-ed25519` (EdDSA).
const jwks = JSON.parse(readFileSync(new URL('./keys.json', import.meta.url), 'utf8'));

// ---------------------------------------------------------------------------
// Minimal HTML pages (the library's defaults @import Google Fonts, and this
// machine has no internet).
// ---------------------------------------------------------------------------
const escapeHtml = (value) => String(value)
  .replaceAll('&', '&amp;')
  .replaceAll('<', '&lt;')
  .replaceAll('>', '&gt;')
  .replaceAll('"', '&quot;')
  .replaceAll("'", '&#39;');

const page = (title, body) => `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;

// Error page shown by the provider itself (e.g. bad redirect_uri, unknown
// client): `out` holds error, error_description (and sometimes state, iss).
async function renderError(ctx, out, _error) {
  ctx.type = 'html';
  ctx.body = page('oops! something went wrong', Object.entries(out)
    .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: <span class="${escapeHtml(key)}">${escapeHtml(value)}</span></p>`)
    .join('\n'));
}

// Logout confirmation page (GET /session/end when a user is signed in).
// `form` is built by the library: `<form id="op.logoutForm" method="post"
// action="<issuer>/session/end/confirm"><input type="hidden" name="xsrf" ...></form>`.
// As in the library's default page, the two buttons sit outside the form and
// submit it through form="op.logoutForm": "Yes" adds logout=yes (end the whole
// session), "No" posts only xsrf (sign out of the requesting client only).
// Front-channel logout (OpenID Connect Front-Channel Logout 1.0), which the library lacks:
// with OP_FRONTCHANNEL=1, "Yes, sign me out" first loads the frontchannel_logout_uri of
// every client of the session in an iframe, with iss and that client's sid, then confirms.
const frontchannel = env.OP_FRONTCHANNEL === '1';

async function frontchannelFrames(ctx) {
  const frames = [];
  const authorizations = ctx.oidc.session?.authorizations || {};
  for (const clientId of Object.keys(authorizations)) {
    const client = await ctx.oidc.provider.Client.find(clientId);
    const uri = client?.metadata().frontchannel_logout_uri;
    const sid = ctx.oidc.session.sidFor(clientId);
    if (!uri || !sid) continue;
    const url = new URL(uri);
    url.searchParams.set('iss', ctx.oidc.provider.issuer);
    url.searchParams.set('sid', sid);
    frames.push(url.href);
  }
  return frames;
}

async function logoutSource(ctx, form) {
  const frames = frontchannel ? await frontchannelFrames(ctx) : [];
  // Loads the frames (each reports its load), then posts the confirmation.
  const script = frames.length === 0 ? '' : `<div id="frames"></div>
<script>
document.querySelector('button[name="logout"][value="yes"]').addEventListener('click', (event) => {
  event.preventDefault();
  const form = document.getElementById('op.logoutForm');
  const yes = document.createElement('input');
  yes.type = 'hidden'; yes.name = 'logout'; yes.value = 'yes';
  form.appendChild(yes);
  const uris = ${JSON.stringify(frames)};
  let pending = uris.length;
  const done = () => { pending -= 1; if (pending === 0) form.submit(); };
  for (const uri of uris) {
    const frame = document.createElement('iframe');
    frame.src = uri;
    frame.onload = done;
    document.getElementById('frames').appendChild(frame);
  }
  setTimeout(() => form.submit(), 5000);
});
</script>`;
  ctx.type = 'html';
  ctx.body = page('Logout Request', `<p>Do you want to sign-out from ${escapeHtml(ctx.host)}?</p>
${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>${script}`);
}

// Shown after logout when no post_logout_redirect_uri was given.
async function postLogoutSuccessSource(ctx) {
  const display = ctx.oidc.client?.clientName || ctx.oidc.client?.clientId;
  ctx.type = 'html';
  ctx.body = page('Sign-out Success', `<p>Your sign-out${display ? ` with ${escapeHtml(display)}` : ''} was successful.</p>`);
}

// ---------------------------------------------------------------------------
// Provider configuration.
// ---------------------------------------------------------------------------
// OP_ACR_VALUES: the acr values this provider claims to support (acr_values_supported).
const acrValues = env.OP_ACR_VALUES ? env.OP_ACR_VALUES.split(',').filter(Boolean) : [];

// JWE algorithms of the RP certification profiles (RSA1_5 left out, as the crate refuses it).
const ENCRYPTION_ALGS = ['RSA-OAEP', 'RSA-OAEP-256', 'ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A256KW'];
const ENCRYPTION_ENCS = ['A128CBC-HS256', 'A256CBC-HS512', 'A128GCM', 'A256GCM'];

const configuration = {
  ...(acrValues.length ? { acrValues } : {}),
  // OP_CC_SCOPES: more scopes of the provider itself (the library's default is
  // openid and offline_access; email and profile come from `claims` below).
  // Only such scopes survive a client credentials request without `resource`,
  // and they can be requested at /auth as well.
  ...(ccScopes.length ? { scopes: ['openid', 'offline_access', ...ccScopes] } : {}),
  clients,
  jwks,
  // Front-channel logout metadata (see OP_FRONTCHANNEL), kept on static and registered
  // clients alike.
  extraClientMetadata: { properties: ['frontchannel_logout_uri', 'frontchannel_logout_session_required'] },
  // Every response type of OIDC Core: the code flow, hybrid and implicit (a client may use
  // only those its metadata lists; the default client lists `code`).
  responseTypes: ['code', 'code id_token', 'code token', 'code id_token token', 'id_token', 'id_token token', 'none'],

  // Every login is a valid account; the login name becomes `sub`.
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims(_use, _scope) {
        return {
          sub: id,
          email: `${id}@example.com`,
          email_verified: true,
          name: `Test User ${id}`,
          given_name: 'Test',
          family_name: id,
        };
      },
    };
  },
  // Scope -> claims. email and profile become supported scopes through this.
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },

  // PKCE for every client, not only public ones. The library accepts S256 only.
  pkce: { required: () => true },

  // Refresh tokens whenever the client may use the refresh_token grant (the
  // library's default also demands the offline_access scope).
  //
  // `expiresWithSession` is left at the library default: tokens from a request
  // WITHOUT the offline_access scope are bound to the provider's login session.
  // They stop working when that session expires (OP_TTL_SESSION caps them)
  // and when the user logs out (RP-initiated logout revokes them), as with a
  // real IdP's "online" tokens. (Returning false there would also make them
  // survive logout: the library ties both together.)
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  // OP_ROTATE_REFRESH_TOKENS=1: every refresh spends the refresh token and issues a new
  // one (the library's default rotates only late in a token's life).
  ...(env.OP_ROTATE_REFRESH_TOKENS === '1' ? { rotateRefreshToken: true } : {}),

  ttl: {
    // Tokens for the resource (OP_RESOURCE) live OP_RESOURCE_TTL when set.
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.accessToken,
    ClientCredentials: (_ctx, token) => ttl.clientCredentials
      ?? token.resourceServer?.accessTokenTTL
      ?? ttl.accessToken,
    IdToken: ttl.idToken,
    RefreshToken: ttl.refreshToken,
    Session: ttl.session,
    // A grant must outlive the refresh tokens and sessions that point to it.
    Grant: Math.max(ttl.refreshToken, ttl.session),
    AuthorizationCode: 60,
    Interaction: 3600,
  },

  // The library accepts artifacts up to 15 s past their expiry by default;
  // with 0, a short OP_TTL_* expires when it says, so expiry tests are exact.
  clockTolerance: 0,

  cookies: {
    // Fixed test key for signing the provider's cookies.
    keys: ['rocket-oidc-auth-test-op-cookie-key'],
    // Cookies are not scoped by port, so on 127.0.0.1 the provider and the
    // app under test share a cookie jar. Use names no app would pick, instead
    // of the library's `_session`, `_interaction`, `_interaction_resume`.
    names: {
      session: 'op_session',
      interaction: 'op_interaction',
      resume: 'op_interaction_resume',
    },
  },

  // All five client authentication methods (the library's default list and
  // order, made explicit). HS* client assertions (client_secret_jwt) are keyed
  // with the client secret, the others (private_key_jwt) with the client's
  // jwks / jwks_uri.
  // With OP_FAPI=1, private_key_jwt and (OP_TLS_CA) the mutual-TLS ones only.
  clientAuthMethods: [
    ...(fapi ? [] : ['client_secret_basic', 'client_secret_jwt', 'client_secret_post']),
    'private_key_jwt',
    ...(fapi ? [] : ['none']),
    ...(mtls ? ['tls_client_auth', 'self_signed_tls_client_auth'] : []),
  ],

  enabledJWA: {
    // What a client may ask for in id_token_signed_response_alg. The library
    // advertises an asymmetric alg only if keys.json has a key for it, and HS*
    // always (keyed with the client secret). A client without
    // id_token_signed_response_alg gets RS256 (clientDefaults below).
    idTokenSigningAlgValues: [
      'RS256', 'RS384', 'RS512',
      'PS256', 'PS384', 'PS512',
      'ES256', 'ES384',
      'EdDSA',
      'HS256', 'HS384', 'HS512',
    ],
    // client_assertion algs (client_secret_jwt: HS*; private_key_jwt: the rest).
    clientAuthSigningAlgValues: [
      'HS256', 'HS384', 'HS512',
      'RS256', 'RS384', 'RS512',
      'PS256', 'PS384', 'PS512',
      'ES256', 'ES384', 'ES512',
      'Ed25519', 'EdDSA',
    ],
    // OP_ENCRYPTION=1: what a client may ask for in id_token_encrypted_response_* and
    // userinfo_encrypted_response_* (with its public key, "use": "enc", in jwks or
    // jwks_uri), and in userinfo_signed_response_alg.
    idTokenEncryptionAlgValues: ENCRYPTION_ALGS,
    userinfoEncryptionAlgValues: ENCRYPTION_ALGS,
    idTokenEncryptionEncValues: ENCRYPTION_ENCS,
    userinfoEncryptionEncValues: ENCRYPTION_ENCS,
    userinfoSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA', 'HS256'],
    // DPoP proof algs: every asymmetric alg the library knows (ML-DSA needs Node 24.7).
    dPoPSigningAlgValues: [
      'ES256', 'ES384', 'ES512',
      'Ed25519', 'EdDSA',
      'PS256', 'PS384', 'PS512',
      'RS256', 'RS384', 'RS512',
    ],
  },

  // The library's client defaults, spelled out: RS256 ID tokens unless the client
  // asks otherwise. (Static clients get their grant_types from clientsFromEnv;
  // dynamically registered ones get authorization_code only when they send no
  // grant_types, as RFC 7591 says: they must ask for refresh_token.)
  clientDefaults: {
    grant_types: ['authorization_code'],
    id_token_signed_response_alg: 'RS256',
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },

  features: {
    devInteractions: { enabled: true }, // built-in login and consent pages
    // OP_ENCRYPTION=1: encrypted ID tokens and UserInfo (JWE), and UserInfo as a signed JWT.
    encryption: { enabled: env.OP_ENCRYPTION === '1' },
    jwtUserinfo: { enabled: env.OP_ENCRYPTION === '1' },
    rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    revocation: { enabled: true },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
    // Logout tokens to clients that register a backchannel_logout_uri, when the user
    // logs out at the provider.
    backchannelLogout: { enabled: true },

    // RFC 9101 request objects (the `request` parameter, also inside PAR), when
    // OP_REQUEST_OBJECTS=1; OP_REQUEST_OBJECTS=required makes them mandatory.
    requestObjects: {
      enabled: env.OP_REQUEST_OBJECTS === '1' || env.OP_REQUEST_OBJECTS === 'required',
      requireSignedRequestObject: env.OP_REQUEST_OBJECTS === 'required',
    },

    // RFC 9126, on by default in the library. requirePushedAuthorizationRequests
    // makes every client's require_pushed_authorization_requests true, and
    // discovery says require_pushed_authorization_requests: true.
    pushedAuthorizationRequests: {
      enabled: par,
      requirePushedAuthorizationRequests: requirePar,
    },

    // RFC 9449, on by default in the library. With a nonceSecret the provider
    // hands out nonces (DPoP-Nonce header); requireNonce makes them mandatory
    // at every endpoint that takes a proof (token, PAR, userinfo).
    dPoP: {
      enabled: dpop,
      ...(dpopNonce ? { nonceSecret: randomBytes(32), requireNonce: () => true } : {}),
    },

    // OpenID Connect Registration 1.0 / RFC 7591 at /reg, and RFC 7592 (read,
    // update, delete at /reg/<client_id> with the registration access token).
    // A string initialAccessToken is the library's fixed-token mode.
    registration: {
      enabled: registration,
      initialAccessToken: initialAccessToken ?? false,
      issueRegistrationAccessToken: true,
    },
    registrationManagement: {
      enabled: registration,
      rotateRegistrationAccessToken,
    },

    // RFC 8707, on by default in the library (whose default knows no resource
    // server: any `resource` is invalid_target). With OP_RESOURCE it knows one.
    ...(resource === undefined ? {} : {
      resourceIndicators: {
        enabled: true,
        // Called (without oneOf) when /auth, PAR or a client credentials request
        // carries no `resource`; its result stands for the missing parameter.
        async defaultResource(_ctx, _client, oneOf) {
          if (oneOf) return oneOf;
          return defaultResource ? resource : undefined;
        },
        // A code or refresh token request without `resource`, for a grant that
        // has one: with false (the library's default) the access token is for
        // the resource only when the scope lacks `openid`, otherwise it is the
        // audience-less opaque token for UserInfo.
        async useGrantedResource() {
          return useGrantedResource;
        },
        async getResourceServerInfo(_ctx, indicator, _client) {
          if (indicator !== resource) throw new errors.InvalidTarget();
          return {
            scope: resourceScopes.join(' '),
            accessTokenFormat: resourceFormat,
            ...(resourceTtl ? { accessTokenTTL: resourceTtl } : {}),
            ...(resourceAlg ? { jwt: { sign: { alg: resourceAlg } } } : {}),
          };
        },
      },
    }),
  },

  renderError,

  // The library refuses outgoing requests to loopback and private addresses (SSRF
  // protection); a test provider must reach the app under test on 127.0.0.1 for
  // back-channel logout, so its protected dispatcher is dropped here.
  fetch: (url, options) => {
    const { dispatcher: _ssrfGuard, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
};

// OP_FAPI=1: the FAPI 2.0 Security Profile. The library's `fapi` feature itself enforces
// PKCE, client assertions with `aud` = the issuer, request objects with exp/nbf/aud and
// redirect_uri on every request; the rest of the profile is configuration.
if (fapi) {
  configuration.responseTypes = ['code'];
  Object.assign(configuration.enabledJWA, {
    idTokenSigningAlgValues: FAPI_ALGS,
    clientAuthSigningAlgValues: FAPI_ALGS,
    requestObjectSigningAlgValues: FAPI_ALGS,
    authorizationSigningAlgValues: FAPI_ALGS,
  });
  configuration.clientDefaults.id_token_signed_response_alg = 'PS256';
  configuration.features.fapi = { enabled: true, profile: '2.0' };
  configuration.features.pushedAuthorizationRequests.requirePushedAuthorizationRequests = true;
}
// OP_JARM=1: response_mode jwt, query.jwt, fragment.jwt, form_post.jwt (signed with
// the client's authorization_signed_response_alg, RS256 unless it says, PS256 under FAPI).
if (jarm) {
  configuration.features.jwtResponseModes = { enabled: true };
  if (fapi) configuration.clientDefaults.authorization_signed_response_alg = 'PS256';
  if (env.OP_ENCRYPTION === '1') {
    configuration.enabledJWA.authorizationEncryptionAlgValues = ENCRYPTION_ALGS;
    configuration.enabledJWA.authorizationEncryptionEncValues = ENCRYPTION_ENCS;
  }
}
// OP_TLS_CA: mutual TLS (RFC 8705). Node serves TLS itself, so the client's certificate
// is the socket's; `authorized` says it chains to OP_TLS_CA.
if (mtls) {
  configuration.features.mTLS = {
    enabled: true,
    certificateBoundAccessTokens: true,
    tlsClientAuth: true,
    selfSignedTlsClientAuth: true,
    getCertificate(ctx) {
      return ctx.socket.getPeerX509Certificate?.() ?? undefined;
    },
    certificateAuthorized(ctx) {
      return ctx.socket.authorized === true;
    },
    certificateSubjectMatches(ctx, property, expected) {
      const certificate = ctx.socket.getPeerX509Certificate?.();
      if (!certificate) return false;
      switch (property) {
        // Node writes "C=DE\nO=Test\nCN=x"; RFC 4514 reverses the order (test names need
        // no escaping).
        case 'tls_client_auth_subject_dn':
          return certificate.subject.split('\n').reverse().join(',') === expected;
        case 'tls_client_auth_san_dns':
          return (certificate.subjectAltName || '').split(', ').includes(`DNS:${expected}`);
        default:
          return false;
      }
    },
  };
}

// ---------------------------------------------------------------------------
// Start: listen first (so the issuer carries the real port), then build the
// provider and route requests to it.
// ---------------------------------------------------------------------------
let handler = (_req, res) => { // until the provider exists
  res.writeHead(503, { 'content-type': 'text/plain' }).end('starting\n');
};
// Requests per path (without query), for tests that assert what the app fetched:
// GET /__test/hits answers them as JSON. Not part of any OpenID protocol.
const hits = {};
// The W3C traceparent of the last request per path (null: none), at GET /__test/traceparents.
const traceparents = {};
// OP_TLS_CERT + OP_TLS_KEY: https with that certificate (a test's own CA), issuer https://.
// With OP_TLS_CA, every connection is asked for a client certificate; none, or one of
// another CA, is still let in (the library decides per client and endpoint).
const tls = env.OP_TLS_CERT && env.OP_TLS_KEY
  ? {
    cert: readFileSync(env.OP_TLS_CERT),
    key: readFileSync(env.OP_TLS_KEY),
    ...(mtls ? { ca: readFileSync(env.OP_TLS_CA), requestCert: true, rejectUnauthorized: false } : {}),
  }
  : null;
if (!tls && (env.OP_TLS_CERT || env.OP_TLS_KEY)) fail('set both OP_TLS_CERT and OP_TLS_KEY');
const listener = (req, res) => {
  const path = (req.url || '/').split('?')[0];
  if (path === '/__test/hits') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(hits));
    return;
  }
  if (path === '/__test/traceparents') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(traceparents));
    return;
  }
  hits[path] = (hits[path] || 0) + 1;
  traceparents[path] = req.headers.traceparent ?? null;
  handler(req, res);
};
const server = tls ? https.createServer(tls, listener) : http.createServer(listener);

server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const actualPort = server.address().port;
const issuer = `${tls ? 'https' : 'http'}://${host}:${actualPort}`;

let provider;
try {
  provider = new Provider(issuer, configuration);
  // Static clients are only validated when first used: validate them now so a
  // bad OP_CLIENTS fails at start-up rather than in the middle of a test.
  for (const { client_id: clientId } of clients) {
    await provider.Client.find(clientId);
  }
} catch (err) {
  fail(`invalid provider configuration: ${err.error_description || err.message}`);
}

// The built-in interaction (login/consent) pages also @import web fonts;
// strip the import so a headless browser never tries to reach the internet.
provider.use(async (ctx, next) => {
  await next();
  if (typeof ctx.body === 'string' && ctx.response.is('html')) {
    ctx.body = ctx.body.replace(/@import url\([^)]*\);?/g, '');
  }
});

// OP_REGISTRATION_TTL: the library always registers client secrets with
// client_secret_expires_at 0 (never) and has no option for a lifetime (its
// `policies` could change it, but only with adapter-backed initial access
// tokens). So stamp the expiry here, on the stored record and in the response,
// whenever a registration (POST /reg) or an update (PUT /reg/<id>) hands out a
// secret that does not expire yet. The library then refuses the secret once
// expired (its checkClientSecretExpiration).
if (registrationTtl > 0) {
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if ((route !== 'registration' && route !== 'client_update') || ctx.status >= 300) return;
    const body = ctx.body;
    if (!body?.client_id || !body.client_secret || body.client_secret_expires_at !== 0) return;
    const expiresAt = Math.floor(Date.now() / 1000) + registrationTtl;
    const stored = await provider.Client.adapter.find(body.client_id);
    if (!stored) return;
    await provider.Client.adapter.upsert(body.client_id, { ...stored, client_secret_expires_at: expiresAt });
    body.client_secret_expires_at = expiresAt;
  });
}

if (verbose) {
  provider.use(async (ctx, next) => {
    await next();
    log(`${ctx.method} ${ctx.originalUrl} -> ${ctx.status}${ctx.status >= 300 && ctx.status < 400 ? ` ${ctx.response.get('location')}` : ''}`);
  });
}

// Unexpected failures inside the provider are worth seeing in test output.
provider.on('server_error', (_ctx, err) => log('server_error:', err));
provider.on('backchannel.error', (_ctx, err, client) => log(`back-channel logout to ${client.clientId} failed:`, err.message, err.cause?.message ?? ''));
if (verbose) provider.on('backchannel.success', (_ctx, client) => log(`back-channel logout to ${client.clientId} sent`));

// With OP_ACR_VALUES, a login at the test pages authenticates "at" the first requested acr
// value the provider supports (or its first one): what a step-up would do for real.
if (acrValues.length) {
  const finished = provider.interactionFinished.bind(provider);
  provider.interactionFinished = async (req, res, result, options) => {
    if (result?.login) {
      const { params } = await provider.interactionDetails(req, res);
      const requested = String(params.acr_values || '').split(' ').filter(Boolean);
      result.login.acr = requested.find((v) => acrValues.includes(v)) ?? acrValues[0];
    }
    return finished(req, res, result, options);
  };
}

handler = provider.callback();

// ---------------------------------------------------------------------------
// Shutdown: stdin closed (parent gone) or a signal.
// ---------------------------------------------------------------------------
//
// The stdin watch is what guarantees that a test harness never leaks this
// process: the harness keeps the write end of a pipe, and when it exits (even
// by a crash) the pipe closes and we exit. It is only armed when stdin IS a
// pipe or a socket: /dev/null would end at once, /dev/zero or a file would be
// read in a busy loop, and reading a terminal from a background job (`&`)
// stops the job with SIGTTIN. OP_IGNORE_STDIN=1 disarms it in all cases.
const exit = () => process.exit(0);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, exit);

function stdinIsPipe() {
  try {
    const stat = fstatSync(0);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false; // no stdin at all
  }
}

if (env.OP_IGNORE_STDIN !== '1' && stdinIsPipe()) {
  process.stdin.on('end', exit);
  process.stdin.on('close', exit);
  process.stdin.on('error', exit);
  process.stdin.on('data', () => {}); // discard whatever the parent writes
  process.stdin.resume();
}

const switches = [
  registration && `registration${initialAccessToken ? ' (initial access token)' : ''}${registrationTtl ? ` (secrets expire after ${registrationTtl}s)` : ''}`,
  par ? `PAR${requirePar ? ' (required)' : ''}` : 'no PAR',
  dpop ? `DPoP${dpopNonce ? ' (nonce required)' : ''}` : 'no DPoP',
  resource && `resource ${resource} (${resourceFormat}, scopes: ${resourceScopes.join(' ')}${defaultResource ? ', default' : ''}${useGrantedResource ? ', granted resource used' : ''})`,
  ccScopes.length && `extra scopes: ${ccScopes.join(' ')}`,
  mtls && 'mutual TLS',
  fapi && 'FAPI 2.0',
  jarm && 'JARM',
].filter(Boolean).join(', ');
log(`listening on 127.0.0.1:${actualPort}, issuer ${issuer}, clients ${clients.map((c) => c.client_id).join(', ')}; ${switches}`);
process.stdout.write(`OP_READY ${JSON.stringify({ issuer, port: actualPort })}\n`);
