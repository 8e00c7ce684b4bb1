import fs from 'node:fs/promises'
import { bytesToHex, hexToBytes, isHex } from 'viem'
import { BaseError, ConflictError } from '../errors.ts'
import { exists, writeFileAtomic } from '../node/home.ts'
import { generatePrivateKey, identityFromPrivateKey, type Identity } from './identity.ts'
import { decryptKeystore, encryptKeystore, isKeystoreV3 } from './keystore.ts'

/** An unencrypted key file; an encrypted one is a plain Web3 Secret Storage v3 document. */
interface PlainKeyFile {
  version: 'mycelium-plain-1'
  type: 'secp256k1'
  address: string
  privateKey: string
}

export class KeyFileError extends BaseError {
  override name = 'KeyFileError'
  constructor (shortMessage: string, hint: string, cause?: unknown) {
    super(shortMessage, { code: 'KEY_FILE', status: 500, hint, cause })
  }
}

export interface CreateKeyFileParameters {
  file: string
  passphrase?: string
  /** Import an existing key instead of generating one. */
  privateKey?: Uint8Array
}

export async function createKeyFile ({ file, passphrase, privateKey }: CreateKeyFileParameters): Promise<Identity> {
  if (await exists(file)) {
    throw new ConflictError(`A node key already exists at ${file}.`, {
      hint: 'Use that home as it is, or choose another with --home. Mycelium never overwrites a key.'
    })
  }
  const raw = privateKey ?? generatePrivateKey()
  const identity = identityFromPrivateKey(raw)
  const document = passphrase != null && passphrase !== ''
    ? await encryptKeystore(raw, identity.address, passphrase)
    : { version: 'mycelium-plain-1', type: 'secp256k1', address: identity.address, privateKey: bytesToHex(raw) } satisfies PlainKeyFile
  await writeFileAtomic(file, JSON.stringify(document, null, 2) + '\n', 0o600)
  return identity
}

export async function loadKeyFile (file: string, passphrase?: string): Promise<Identity> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err: any) {
    if (err.code === 'ENOENT') {
      throw new KeyFileError(`No node key at ${file}.`, 'Run `myc init` to create a node home (or pass --home / MYC_HOME to use an existing one).', err)
    }
    throw new KeyFileError(`Cannot read the node key at ${file}: ${err.message}`, 'Check the file permissions of the node home.', err)
  }
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (err) {
    throw new KeyFileError(`The node key file ${file} is corrupt (not valid JSON).`, 'Restore it from a backup; Mycelium will not make a new key in its place.', err)
  }
  if (isKeystoreV3(document)) {
    if (passphrase == null || passphrase === '') {
      throw new KeyFileError(`The node key at ${file} is encrypted and no passphrase was given.`, 'Pass --passphrase-file FILE or set MYC_PASSPHRASE.')
    }
    return checked(identityFromPrivateKey(await decryptKeystore(document, passphrase)), document.address, file)
  }
  const plain = document as Partial<PlainKeyFile> | null
  if (plain?.version === 'mycelium-plain-1' && typeof plain.privateKey === 'string' && isHex(plain.privateKey) && plain.privateKey.length === 66) {
    return checked(identityFromPrivateKey(hexToBytes(plain.privateKey)), plain.address ?? '', file)
  }
  throw new KeyFileError(`The node key file ${file} is corrupt (unknown format).`, 'Restore it from a backup; Mycelium will not make a new key in its place.')
}

function checked (identity: Identity, recordedAddress: string, file: string): Identity {
  const recorded = recordedAddress.toLowerCase().replace(/^0x/, '')
  if (recorded !== '' && recorded !== identity.address.toLowerCase().slice(2)) {
    throw new KeyFileError(`The node key file ${file} is corrupt: its key does not match its recorded address 0x${recorded}.`, 'Restore it from a backup.')
  }
  return identity
}
