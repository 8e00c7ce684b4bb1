import type { DatabaseSync } from 'node:sqlite'
import { openDatabase, StatementCache } from '../utils/sqlite.ts'
import { claimChannel } from '../ledger/actions/claimChannel.ts'
import { openChannel } from '../ledger/actions/openChannel.ts'
import { signVoucher } from '../ledger/actions/signVoucher.ts'
import { verifyVoucher } from '../ledger/actions/verifyVoucher.ts'
import { PaymentRequiredError } from '../inference/remote/handler.ts'
import { logger } from '../utils/logger.ts'
import type { InferenceRequestTerms } from '../inference/remote/inferenceReceipt.ts'
import type { WirePayment } from '../inference/remote/messages.ts'
import type { Ledger } from '../ledger/createLedger.ts'
import type { Address, Hex, LocalAccount } from 'viem'

const log = logger('market:payments')

/** A client opens a channel deposit worth this many calls at once (one transaction, many calls). */
export const CALLS_PER_DEPOSIT = 100n
export const CHANNEL_DURATION_SECONDS = 24 * 3600

/**
 * Both ends of per-call payments: as a client, one channel per provider and a cumulative voucher per
 * call; as a provider, a voucher is accepted only if it adds at least the price to the last one
 * accepted on its channel, and the latest one is kept for claiming. All of it survives restarts.
 */
export class Payments {
  private readonly db: DatabaseSync
  private readonly ledger: Ledger
  private readonly account: LocalAccount
  private readonly opening = new Map<string, Promise<{ channelId: Hex }>>()
  private readonly statements: StatementCache

  constructor ({ file, ledger, account }: { file: string, ledger: Ledger, account: LocalAccount }) {
    this.ledger = ledger
    this.account = account
    this.db = openDatabase(file, `
      CREATE TABLE IF NOT EXISTS outgoing (provider TEXT PRIMARY KEY, channel_id TEXT NOT NULL, deposit TEXT NOT NULL, spent TEXT NOT NULL, expires_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS incoming (channel_id TEXT PRIMARY KEY, client TEXT NOT NULL, accepted TEXT NOT NULL, signature TEXT NOT NULL, claimed TEXT NOT NULL DEFAULT '0');
    `)
    this.statements = new StatementCache(this.db)
  }

  close (): void {
    this.db.close()
  }


  /** Client side: a voucher paying `terms.price` more to the provider, opening or replacing a channel when needed. */
  async voucherFor (terms: InferenceRequestTerms): Promise<WirePayment> {
    const provider = terms.provider.toLowerCase()
    let channel = this.statements.get('SELECT * FROM outgoing WHERE provider = ?').get(provider) as { channel_id: Hex, deposit: string, spent: string, expires_at: number } | undefined
    const now = Math.floor(Date.now() / 1000)
    if (channel == null || BigInt(channel.spent) + terms.price > BigInt(channel.deposit) || channel.expires_at - now < 600) {
      await this.open(provider as Address, terms.price)
      channel = this.statements.get('SELECT * FROM outgoing WHERE provider = ?').get(provider) as typeof channel
    }
    const cumulativeAmount = BigInt(channel!.spent) + terms.price
    const signature = await signVoucher(this.account, this.ledger, { channelId: channel!.channel_id, cumulativeAmount })
    this.statements.get('UPDATE outgoing SET spent = ? WHERE provider = ?').run(cumulativeAmount.toString(), provider)
    return { channelId: channel!.channel_id, cumulativeAmount: cumulativeAmount.toString(), signature }
  }

  private async open (provider: Address, price: bigint): Promise<void> {
    const pending = this.opening.get(provider)
    if (pending != null) {
      await pending
      return
    }
    const run = (async () => {
      const opened = await openChannel(this.ledger, { provider, deposit: price * CALLS_PER_DEPOSIT, duration: CHANNEL_DURATION_SECONDS })
      this.statements.get(`INSERT INTO outgoing (provider, channel_id, deposit, spent, expires_at) VALUES (?, ?, ?, '0', ?)
        ON CONFLICT (provider) DO UPDATE SET channel_id = excluded.channel_id, deposit = excluded.deposit, spent = '0', expires_at = excluded.expires_at`)
        .run(provider.toLowerCase(), opened.channelId, opened.deposit.toString(), Number(opened.expiresAt))
      log('opened channel %s to %s with %s', opened.channelId, provider, opened.deposit)
      return { channelId: opened.channelId }
    })()
    this.opening.set(provider, run)
    try {
      await run
    } finally {
      this.opening.delete(provider)
    }
  }

  /**
   * Provider side: refuses a call whose voucher does not cover its price. `clientKey`, the calling
   * peer's public key, makes the signature check cheaper (same outcome).
   */
  async accept (terms: InferenceRequestTerms, payment: WirePayment | undefined, clientKey?: Uint8Array): Promise<void> {
    if (terms.price === 0n) return
    if (payment == null) throw new PaymentRequiredError(`This call costs ${terms.price} token units and came without a voucher.`)
    const previous = this.statements.get('SELECT accepted FROM incoming WHERE channel_id = ?').get(payment.channelId) as { accepted: string } | undefined
    const cumulativeAmount = BigInt(payment.cumulativeAmount)
    const check = await verifyVoucher(this.ledger, {
      channelId: payment.channelId,
      cumulativeAmount,
      signature: payment.signature,
      minAmount: BigInt(previous?.accepted ?? '0') + terms.price,
      ...(clientKey != null ? { clientKey } : {})
    })
    if (!check.valid) throw new PaymentRequiredError(`The voucher does not cover the call (${check.reason ?? 'invalid'}).`)
    if (check.signer?.toLowerCase() !== terms.client.toLowerCase()) throw new PaymentRequiredError('The voucher is not signed by the calling client.')
    this.statements.get(`INSERT INTO incoming (channel_id, client, accepted, signature) VALUES (?, ?, ?, ?)
      ON CONFLICT (channel_id) DO UPDATE SET accepted = excluded.accepted, signature = excluded.signature`).run(payment.channelId, terms.client, cumulativeAmount.toString(), payment.signature)
  }

  /** Provider side: claims the latest voucher of every channel with something unclaimed. */
  async claimAll (): Promise<Array<{ channelId: Hex, amount: string }>> {
    const rows = this.statements.get('SELECT * FROM incoming WHERE accepted != claimed').all() as Array<{ channel_id: Hex, accepted: string, signature: Hex }>
    const claimed = []
    for (const row of rows) {
      const result = await claimChannel(this.ledger, { channelId: row.channel_id, cumulativeAmount: BigInt(row.accepted), signature: row.signature })
      this.statements.get('UPDATE incoming SET claimed = ? WHERE channel_id = ?').run(row.accepted, row.channel_id)
      claimed.push({ channelId: row.channel_id, amount: result.amount.toString() })
    }
    return claimed
  }

  channels (): { outgoing: unknown[], incoming: unknown[] } {
    return {
      outgoing: this.statements.get('SELECT provider, channel_id AS channelId, deposit, spent, expires_at AS expiresAt FROM outgoing').all(),
      incoming: this.statements.get('SELECT channel_id AS channelId, client, accepted, claimed FROM incoming').all()
    }
  }
}
