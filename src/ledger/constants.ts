/** Every constant of the ledger, in one place. */

/**
 * Chain id of the embedded dev chain: 0x6d7963, "myc" in ASCII. Distinct from Hardhat/Anvil's 31337 and
 * Ganache's 1337, so a wallet or a node never confuses a Mycelium dev ledger with another local chain.
 */
export const DEFAULT_CHAIN_ID = 7_174_499

/** Large blocks: one block holds every transaction submitted while the previous one was mined… */
export const EMBEDDED_BLOCK_GAS_LIMIT = 1_000_000_000n
/**
 * …up to this many. EDR's time per transaction grows with the size of the block (measured: 0.5 ms a
 * publish in blocks of 50 to 200, 1.2 ms in blocks of 400, 2.6 ms in a block of 1,000).
 */
export const MAX_BLOCK_TRANSACTIONS = 128
/**
 * Gas limit of the ledger client's transactions on the embedded chain, instead of an estimate: gas is free
 * there, only the gas used is charged, and a block still fits 200 of them. Above the needs of any call
 * of the contracts (the costliest, a sale paying royalties to 32 ancestors, uses about 1.5M).
 */
export const EMBEDDED_TRANSACTION_GAS = 5_000_000n
/** Gas limit EDR gives calls and estimates that state none. */
export const EMBEDDED_CALL_GAS_LIMIT = 30_000_000n
/** Receives the priority fees of the embedded chain (nobody holds its key). */
export const EMBEDDED_COINBASE = '0x6d79630000000000000000000000000000000000'
/** Ether (in wei) given at genesis to the faucet and to the deployer of the embedded chain. */
export const GENESIS_FAUCET_BALANCE = 10n ** 9n * 10n ** 18n
export const GENESIS_DEPLOYER_BALANCE = 10n ** 6n * 10n ** 18n
/** Domain separators of the keys derived from a chain's seed: `keccak256(seed ‖ label)`. */
export const FAUCET_KEY_LABEL = 'mycelium:faucet'
export const DEPLOYER_KEY_LABEL = 'mycelium:deployer'

/** Files in the chain directory (in the node home). */
export const JOURNAL_FILE = 'journal.sqlite'
export const CONTRACTS_FILE = 'contracts.json'
/** Version of the journal's schema and replay rules; a journal of another version is refused. */
export const JOURNAL_FORMAT = 1

/** JSON-RPC batches larger than this are refused by the public `/rpc` handler. */
export const MAX_RPC_BATCH = 100

/** Royalty share of every sale of a derived model paid along its lineage, in basis points (10%). */
export const DEFAULT_ROYALTY_BPS = 1_000
/** The token has 18 decimals, like ether. */
export const TOKEN_DECIMALS = 18
export const TOKEN_SYMBOL = 'MYC'
/** What the dev faucet gives when not told otherwise: gas money and test tokens. */
export const DEFAULT_FAUCET_ETH = 10n * 10n ** 18n
export const DEFAULT_FAUCET_TOKENS = 1_000n * 10n ** 18n
/** At most this much per faucet call, so a typo does not mint a billion tokens. */
export const MAX_FAUCET_ETH = 1_000n * 10n ** 18n
export const MAX_FAUCET_TOKENS = 1_000_000n * 10n ** 18n

/** How long to wait for an external RPC to answer the chain-id probe. */
export const RPC_PROBE_TIMEOUT_MS = 10_000
/** How often viem polls an external chain for receipts; the embedded chain answers at once. */
export const EXTERNAL_POLLING_INTERVAL_MS = 1_000
/** Blocks per `eth_getLogs` request when reading the history of a model on an external chain. */
export const LOG_RANGE_BLOCKS = 10_000n

/** How long a payment channel runs when its opener does not say (one day); the contract allows up to 365 days. */
export const DEFAULT_CHANNEL_DURATION_SECONDS = 86_400
/**
 * A provider accepts a voucher only if its channel runs at least this much longer: claims end at the
 * expiry, and the claim transaction must be mined before it.
 */
export const VOUCHER_MIN_TIME_LEFT_SECONDS = 300
/** Longest a payment channel may run ahead of the current time: PaymentChannels.MAX_DURATION (365 days). */
export const MAX_CHANNEL_DURATION_SECONDS = 365 * 86_400
