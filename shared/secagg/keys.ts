import {
  createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, sign, verify, type KeyObject,
} from 'node:crypto';
import nacl from 'tweetnacl';

/**
 * Key material, byte-compatible with tweetnacl (nacl.sign / nacl.box / nacl.scalarMult) but computed with
 * node:crypto's X25519 and Ed25519, which are ~50× faster than tweetnacl's pure-JS curve arithmetic here
 * (a client does 2k key agreements and k signature checks per round; the server does n checks).
 */
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

/** An enrolled client identity, in nacl.sign's format: secretKey = seed (32) ‖ publicKey (32). */
export interface IdentityKeyPair { publicKey: Uint8Array; secretKey: Uint8Array }
export interface X25519KeyPair { publicKey: Uint8Array; secretKey: Uint8Array }

function raw32(der: Buffer): Uint8Array {
  return new Uint8Array(der.subarray(der.length - 32));
}

export function generateIdentity(): IdentityKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const seed = raw32(privateKey.export({ format: 'der', type: 'pkcs8' }));
  const pub = raw32(publicKey.export({ format: 'der', type: 'spki' }));
  const secretKey = new Uint8Array(64);
  secretKey.set(seed, 0);
  secretKey.set(pub, 32);
  return { publicKey: pub, secretKey };
}

export function identitySigner(identity: IdentityKeyPair): (message: Uint8Array) => Uint8Array {
  if (identity.secretKey.length !== 64 || identity.publicKey.length !== 32) {
    throw new TypeError('identity must be a nacl.sign key pair (64-byte secretKey, 32-byte publicKey)');
  }
  const key = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8, identity.secretKey.subarray(0, 32)]), format: 'der', type: 'pkcs8',
  });
  return (message) => new Uint8Array(sign(null, message, key));
}

/** Ed25519 verification; false (never a throw) for malformed keys or signatures. */
export function verifySignature(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI, publicKey]), format: 'der', type: 'spki' });
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

export function generateX25519(): X25519KeyPair {
  const secretKey = new Uint8Array(randomBytes(32));
  return { secretKey, publicKey: x25519PublicKey(secretKey) };
}

export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  const priv = x25519Private(secretKey);
  return raw32(createPublicKey(priv).export({ format: 'der', type: 'spki' }));
}

export function x25519Private(secretKey: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secretKey]), format: 'der', type: 'pkcs8' });
}

/**
 * X25519(secret, peer) = nacl.scalarMult(secret, peer). Returns undefined for an invalid peer key
 * (wrong length, or a low-order point giving the all-zero secret).
 */
export function x25519(secret: KeyObject, peerPublic: Uint8Array): Uint8Array | undefined {
  if (peerPublic.length !== 32) return undefined;
  try {
    const pub = createPublicKey({ key: Buffer.concat([X25519_SPKI, peerPublic]), format: 'der', type: 'spki' });
    const shared = new Uint8Array(diffieHellman({ privateKey: secret, publicKey: pub }));
    let any = 0;
    for (const b of shared) any |= b;
    return any === 0 ? undefined : shared;
  } catch {
    return undefined;
  }
}

// tweetnacl ships its low-level primitives but its typings omit them.
const lowlevel = (nacl as unknown as {
  lowlevel: { crypto_core_hsalsa20(out: Uint8Array, inp: Uint8Array, k: Uint8Array, c: Uint8Array): number };
}).lowlevel;
const ZERO16 = new Uint8Array(16);
const SIGMA = new Uint8Array([101, 120, 112, 97, 110, 100, 32, 51, 50, 45, 98, 121, 116, 101, 32, 107]);

/** nacl.box.before from an X25519 shared secret: HSalsa20(shared, 0). */
export function boxKeyFromShared(shared: Uint8Array): Uint8Array {
  const k = new Uint8Array(32);
  lowlevel.crypto_core_hsalsa20(k, ZERO16, shared, SIGMA);
  return k;
}

/** nacl.box.after: identical output to nacl.box(message, nonce, theirPublic, mySecret). */
export function boxSeal(message: Uint8Array, boxKey: Uint8Array): { nonce: Uint8Array; ciphertext: Uint8Array } {
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  return { nonce, ciphertext: nacl.secretbox(message, nonce, boxKey) };
}

export function boxOpen(ciphertext: Uint8Array, nonce: Uint8Array, boxKey: Uint8Array): Uint8Array | undefined {
  if (nonce.length !== nacl.box.nonceLength) return undefined;
  return nacl.secretbox.open(ciphertext, nonce, boxKey) ?? undefined;
}
