// Generator for keys.json: the provider's private signing keys.
//
// keys.json is committed so that the provider's JWKS (and thus every token it
// signs) is stable across runs. Running this script keeps every key already in
// keys.json (matched by kid) and only generates the missing ones, then
// rewrites keys.json in place:
//
//   node gen-keys.mjs            (or: npm run gen-keys)
//
// (It writes the file itself: `node gen-keys.mjs > keys.json` would truncate
// keys.json before it could be read.) Delete keys.json first for all-new keys.
//
// Output: {"keys": [RSA-2048, EC P-256, EC P-384, OKP Ed25519]}, private JWKs.
// These are TEST keys: never use them for anything else.
//
// How oidc-provider uses them (lib/helpers/keystore.js, initialize_keystore.js):
// a key is a candidate for a JWS alg when its kty (and crv) fit the alg AND,
// if the key has an `alg`, that `alg` equals the requested one. So the RSA and
// Ed25519 keys carry NO `alg`: one RSA key then signs RS256/384/512 and
// PS256/384/512, the Ed25519 key EdDSA (and Ed25519). An EC key fits a single
// alg anyway (P-256: ES256, P-384: ES384), so those keep theirs.
// The first RSA key is the default for RS256 (the default ID token alg).
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const file = new URL('./keys.json', import.meta.url);

const WANTED = [
  { kid: 'test-rs256', type: 'rsa', options: { modulusLength: 2048 } },
  { kid: 'test-es256', type: 'ec', options: { namedCurve: 'P-256' }, alg: 'ES256' },
  { kid: 'test-es384', type: 'ec', options: { namedCurve: 'P-384' }, alg: 'ES384' },
  { kid: 'test-ed25519', type: 'ed25519', options: {} },
];

const existing = new Map();
if (existsSync(file)) {
  for (const key of JSON.parse(readFileSync(file, 'utf8')).keys) existing.set(key.kid, key);
}

const keys = WANTED.map(({ kid, type, options, alg }) => {
  let key = existing.get(kid);
  if (key) {
    key = { ...key };
    console.error(`kept ${kid}`);
  } else {
    const { privateKey } = generateKeyPairSync(type, options);
    key = { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
    console.error(`generated ${kid}`);
  }
  if (alg) key.alg = alg;
  else delete key.alg; // see above: an `alg` would restrict the key to that one alg
  return key;
});

for (const kid of existing.keys()) {
  if (!WANTED.some((wanted) => wanted.kid === kid)) console.error(`dropped ${kid} (not in the wanted list)`);
}

const tmp = new URL('./keys.json.tmp', import.meta.url);
writeFileSync(tmp, `${JSON.stringify({ keys }, null, 2)}\n`);
renameSync(tmp, file);
