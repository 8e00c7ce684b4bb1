import { createCipheriv, createDecipheriv, randomBytes, randomUUID, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto'
import { keccak_256 as keccak256 } from '@noble/hashes/sha3.js'
import { BaseError } from '../errors.ts'

/**
 * Web3 Secret Storage v3 — the keystore format of geth, ethers and every wallet — so a node's key
 * can be imported into standard Ethereum tools and vice versa.
 */
export interface KeystoreV3 {
  version: 3
  id: string
  address: string
  crypto: {
    cipher: 'aes-128-ctr'
    cipherparams: { iv: string }
    ciphertext: string
    kdf: 'scrypt'
    kdfparams: { dklen: number, n: number, r: number, p: number, salt: string }
    mac: string
  }
}

// geth's "light" cost is n=4096; 2^15 keeps a start under ~150 ms while costing an attacker 32 MiB per guess.
const SCRYPT_N = 1 << 15
const SCRYPT_R = 8
const SCRYPT_P = 1
const DKLEN = 32

export class WrongPassphraseError extends BaseError {
  override name = 'WrongPassphraseError'
  constructor () {
    super('The passphrase does not decrypt the node key.', {
      code: 'WRONG_PASSPHRASE',
      status: 401,
      hint: 'Check the passphrase file given with --passphrase-file (or MYC_PASSPHRASE). The key file was left untouched.'
    })
  }
}

async function deriveKey (passphrase: string, salt: Buffer, n: number, r: number, p: number, dklen: number): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    scryptCallback(passphrase.normalize('NFKC'), salt, dklen, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (err, key) => {
      if (err != null) reject(err)
      else resolve(key)
    })
  })
}

function mac (derivedKey: Buffer, ciphertext: Buffer): Buffer {
  return Buffer.from(keccak256(Buffer.concat([derivedKey.subarray(16, 32), ciphertext])))
}

export async function encryptKeystore (privateKey: Uint8Array, address: string, passphrase: string): Promise<KeystoreV3> {
  const salt = randomBytes(32)
  const iv = randomBytes(16)
  const derivedKey = await deriveKey(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, DKLEN)
  const cipher = createCipheriv('aes-128-ctr', derivedKey.subarray(0, 16), iv)
  const ciphertext = Buffer.concat([cipher.update(privateKey), cipher.final()])
  return {
    version: 3,
    id: randomUUID(),
    address: address.toLowerCase().replace(/^0x/, ''),
    crypto: {
      cipher: 'aes-128-ctr',
      cipherparams: { iv: iv.toString('hex') },
      ciphertext: ciphertext.toString('hex'),
      kdf: 'scrypt',
      kdfparams: { dklen: DKLEN, n: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, salt: salt.toString('hex') },
      mac: mac(derivedKey, ciphertext).toString('hex')
    }
  }
}

export async function decryptKeystore (keystore: KeystoreV3, passphrase: string): Promise<Uint8Array> {
  const { kdfparams, ciphertext, cipherparams } = keystore.crypto
  const derivedKey = await deriveKey(passphrase, Buffer.from(kdfparams.salt, 'hex'), kdfparams.n, kdfparams.r, kdfparams.p, kdfparams.dklen)
  const cipherBytes = Buffer.from(ciphertext, 'hex')
  const expected = Buffer.from(keystore.crypto.mac, 'hex')
  const actual = mac(derivedKey, cipherBytes)
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new WrongPassphraseError()
  }
  const decipher = createDecipheriv('aes-128-ctr', derivedKey.subarray(0, 16), Buffer.from(cipherparams.iv, 'hex'))
  return new Uint8Array(Buffer.concat([decipher.update(cipherBytes), decipher.final()]))
}

export function isKeystoreV3 (value: unknown): value is KeystoreV3 {
  const v = value as KeystoreV3 | undefined
  return v?.version === 3 &&
    v.crypto?.kdf === 'scrypt' &&
    v.crypto.cipher === 'aes-128-ctr' &&
    typeof v.crypto.ciphertext === 'string' &&
    typeof v.crypto.mac === 'string' &&
    typeof v.crypto.kdfparams?.salt === 'string' &&
    typeof v.crypto.cipherparams?.iv === 'string'
}
