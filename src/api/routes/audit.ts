import { Type } from '@sinclair/typebox'
import { InvalidInputError } from '../../errors.ts'
import { readModelEvents } from '../../ledger/actions/readModelEvents.ts'
import { verifyAnchoredReceipt } from '../../ledger/actions/verifyAnchoredReceipt.ts'
import { recoverUsageReceiptSigner } from '../../ledger/receipts.ts'
import { verifyInferenceReceipt, type InferenceReceipt } from '../../inference/remote/inferenceReceipt.ts'
import { parseNameRef } from '../../manifest/validate.ts'
import { verifyManifestSignature } from '../../manifest/sign.ts'
import { fetchManifest } from '../../registry/fetchManifest.ts'
import { parseCid } from '../../storage/blockstore.ts'
import { API_PREFIX } from '../constants.ts'
import { jsonWithBigints as json } from '../schemas.ts'
import type { ApiComponents } from '../createApiServer.ts'
import type { FastifyInstance } from 'fastify'

/** How long the audit waits for a manifest it does not store before reporting it unchecked. */
const MANIFEST_FETCH_MS = 5_000

/**
 * `myc audit`: the chronological on-chain trail of a model — registration, versions, publishers,
 * listings, sales, rentals, royalties, usage anchors, the federated jobs that trained it — each manifest checked against its signature,
 * and any receipt's inclusion proof checked against its anchored root.
 */
export async function auditRoutes (app: FastifyInstance, { components }: { components: ApiComponents }): Promise<void> {
  const ledger = components.ledger.ledger

  app.get<{ Params: { ref: string }, Querystring: { proof?: string } }>(`${API_PREFIX}/audit/:ref`, {
    schema: {
      tags: ['ledger'],
      summary: 'The on-chain trail of a model, with manifests cross-checked; ?proof=RECEIPT_HASH verifies a usage receipt against its anchor',
      params: Type.Object({ ref: Type.String() }),
      querystring: Type.Object({ proof: Type.Optional(Type.String()) })
    }
  }, async request => {
    const name = nameOf(components, request.params.ref)
    const events = await readModelEvents(ledger, { name })
    const manifests = []
    const federatedJobs = new Set<string>()
    for (const event of events) {
      if (event.eventName !== 'VersionAdded') continue
      const cid = String(event.args.manifestCid)
      try {
        const { manifest } = await fetchManifest(components.registry, cid, { timeoutMs: MANIFEST_FETCH_MS })
        const signature = await verifyManifestSignature(manifest)
        const job = (manifest.extra?.federated as { jobId?: unknown } | undefined)?.jobId
        if (typeof job === 'string' && /^[1-9][0-9]{0,30}$/.test(job)) federatedJobs.add(job)
        manifests.push({
          cid,
          version: manifest.version,
          signer: signature.signer,
          valid: signature.valid && manifest.name === name && manifest.version === String(event.args.label),
          ...(signature.reason != null ? { reason: signature.reason } : {})
        })
      } catch (err: any) {
        manifests.push({ cid, version: String(event.args.label), valid: false, reason: `manifest unavailable: ${err.shortMessage ?? err.message}` })
      }
    }
    // A model trained by federated jobs: their rounds, attestations, slashings, metrics and payouts belong to its trail.
    if (federatedJobs.size > 0) {
      events.push(...await components.federated.events([...federatedJobs].map(BigInt)))
      events.sort((a, b) => Number(a.blockNumber - b.blockNumber) || a.logIndex - b.logIndex)
    }
    const anchors = events.filter(event => event.eventName === 'Anchored').map(event => ({ anchorId: String(event.args.anchorId), count: Number(event.args.count), blockNumber: event.blockNumber.toString(), actor: event.actor }))
    const served = components.receipts.ofModel(name)
    let proof
    if (request.query.proof != null) {
      const hash = request.query.proof
      if (components.receipts.document(hash) == null) throw new InvalidInputError(`No receipt ${hash} is kept by this node.`, { status: 404, hint: 'Receipts are kept by the node that served the interaction; ask it.' })
      if (components.receipts.document(hash)!.anchorId == null) await components.receipts.anchor()
      const stored = components.receipts.document(hash)!
      const signatures = stored.kind === 'inference'
        ? verifyInferenceReceipt(restoreInferenceReceipt(stored.document))
        : await (async () => {
          const usage = components.receipts.get(hash)!
          const signer = await recoverUsageReceiptSigner(usage)
          return { valid: signer.toLowerCase() === usage.receipt.provider.toLowerCase(), signer }
        })()
      proof = {
        hash,
        kind: stored.kind,
        receipt: stored.document,
        signatureValid: signatures.valid,
        anchorId: stored.anchorId,
        proof: stored.proof,
        included: stored.anchorId != null && await verifyAnchoredReceipt(ledger, { anchorId: BigInt(stored.anchorId), receiptHash: hash as `0x${string}`, proof: stored.proof ?? [] })
      }
    }
    return json({
      name,
      chainId: ledger.chainId,
      events,
      federatedJobs: [...federatedJobs],
      manifests,
      usage: { anchors, anchoredReceipts: anchors.reduce((sum, a) => sum + a.count, 0), receiptsServedHere: served.length, unanchoredHere: served.filter(r => r.anchorId == null).length, recent: served.slice(-5).map(r => r.hash), inference: components.receipts.inferenceOf(name).slice(-5) },
      ...(proof != null ? { proof } : {})
    })
  })
}

function restoreInferenceReceipt (document: unknown): InferenceReceipt {
  const receipt = document as InferenceReceipt & { request: { price: string } }
  return { ...receipt, request: { ...receipt.request, price: BigInt(receipt.request.price) } }
}

function nameOf (components: ApiComponents, ref: string): string {
  const cid = parseCid(ref)
  if (cid == null) return parseNameRef(ref).name
  const entry = components.registry.index.byCid(cid.toString())
  if (entry == null) throw new InvalidInputError(`${ref} is not stored here; audit it by name.`, { status: 404, code: 'UNKNOWN_REF' })
  return entry.name
}
