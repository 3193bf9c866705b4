// One-off generator for keys.json: the provider's private signing keys.
//
// keys.json is committed so that the provider's JWKS (and thus every token it
// signs) is stable across runs. Only re-run this if you really want new keys:
//
//   node gen-keys.mjs > keys.json
//
// Output: {"keys": [<RS256 RSA-2048 private JWK>, <ES256 P-256 private JWK>]}.
// These are TEST keys: never use them for anything else.
import { generateKeyPairSync } from 'node:crypto';

function privateJwk(type, options, alg, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

const keys = [
  // First key = default signing key (ID tokens default to RS256).
  privateJwk('rsa', { modulusLength: 2048 }, 'RS256', 'test-rs256'),
  privateJwk('ec', { namedCurve: 'P-256' }, 'ES256', 'test-es256'),
];

process.stdout.write(`${JSON.stringify({ keys }, null, 2)}\n`);
