import { Type } from '@sinclair/typebox'
import { getAddress, isAddress, type Address } from 'viem'
import { InvalidInputError, NotFoundError } from '../../errors.ts'
import { balanceOf } from '../../ledger/actions/balanceOf.ts'
import { buyLicense } from '../../ledger/actions/buyLicense.ts'
import { getLicense } from '../../ledger/actions/getLicense.ts'
import { getListing } from '../../ledger/actions/getListing.ts'
import { licensedNames } from '../../ledger/actions/licensedNames.ts'
import { listModel } from '../../ledger/actions/listModel.ts'
import { rentLicense } from '../../ledger/actions/rentLicense.ts'
import { transferModel } from '../../ledger/actions/transferModel.ts'
import { unlistModel } from '../../ledger/actions/unlistModel.ts'
import { withdraw } from '../../ledger/actions/withdraw.ts'
import { parseDuration, parseTokens } from '../../ledger/units.ts'
import { API_PREFIX } from '../constants.ts'
import { withErrors } from '../schemas.ts'
import type { ApiComponents } from '../createApiServer.ts'
import type { WriteResult } from '../../ledger/write.ts'
import type { FastifyInstance } from 'fastify'

/** Amounts travel as decimal strings of token base units (uint256 does not fit a JSON number). */
const units = (value: bigint): string => value.toString()
const NameBody = Type.Object({ name: Type.String() }, { additionalProperties: false })
const TxResult = Type.Object({ transactionHash: Type.String(), blockNumber: Type.String() }, { additionalProperties: true })

/** A ledger write as JSON: its transaction, block, and whatever else the action returns (amounts as strings). */
function txResult (result: WriteResult & object): Record<string, unknown> {
  const out: Record<string, unknown> = { transactionHash: result.hash, blockNumber: result.blockNumber.toString() }
  for (const [key, value] of Object.entries(result)) {
    if (key === 'receipt' || key === 'hash' || key === 'blockNumber' || key === 'tree') continue
    out[key] = typeof value === 'bigint' ? value.toString() : value
  }
  return out
}

function address (value: string, what: string): Address {
  if (!isAddress(value)) throw new InvalidInputError(`${what} "${value}" is not an EVM address.`, { hint: 'An address is 0x followed by 40 hex digits.' })
  return getAddress(value)
}

/** The ledger: chain info and JSON-RPC, the faucet, balances, ownership and the marketplace. */
export async function ledgerRoutes (app: FastifyInstance, { components }: { components: ApiComponents }): Promise<void> {
  const { ledger: service } = components
  const ledger = service.ledger

  app.post('/rpc', {
    schema: { tags: ['ledger'], summary: 'Standard Ethereum JSON-RPC of the embedded chain (signed raw transactions only)', body: Type.Any() }
  }, async (request, reply) => {
    if (service.rpc == null) {
      return await reply.status(404).send({ jsonrpc: '2.0', id: null, error: { code: -32601, message: `This node uses an external chain: ${service.info().rpcUrl ?? ''}` } })
    }
    return await service.rpc(request.body)
  })

  app.get(`${API_PREFIX}/chain`, {
    schema: { tags: ['ledger'], summary: 'Chain id, contract addresses and the network id' }
  }, async () => {
    const info = service.info()
    return {
      chainId: info.chainId,
      embedded: info.embedded,
      rpcUrl: info.rpcUrl ?? `${components.apiUrl() ?? ''}/rpc`,
      network: components.networkId,
      account: components.identity.address,
      deployment: info.deployment
    }
  })

  app.post<{ Body: { address?: string } }>(`${API_PREFIX}/chain/faucet`, {
    schema: {
      tags: ['ledger'],
      summary: 'Dev faucet of the embedded chain: gas money and test tokens for a joining node',
      body: Type.Object({ address: Type.Optional(Type.String()) }, { additionalProperties: false })
    }
  }, async request => {
    const to = request.body?.address != null ? address(request.body.address, 'Address') : components.identity.address
    return { address: to, ...await service.faucet(to) }
  })

  app.get(`${API_PREFIX}/balance`, {
    schema: { tags: ['ledger'], summary: 'Gas, tokens and withdrawable earnings of this node\'s account' }
  }, async () => {
    const balances = await balanceOf(ledger)
    return { address: components.identity.address, eth: units(balances.eth), tokens: units(balances.tokens), withdrawable: units(balances.withdrawable) }
  })

  app.post(`${API_PREFIX}/withdraw`, {
    schema: { tags: ['ledger'], summary: 'Withdraw earnings (sales, rentals, royalties)', security: [{ apiToken: [] }], response: withErrors({ 200: TxResult }) }
  }, async () => txResult(await withdraw(ledger)))

  app.post<{ Body: { name: string, to: string } }>(`${API_PREFIX}/transfer`, {
    schema: { tags: ['ledger'], summary: 'Transfer ownership of a model name', security: [{ apiToken: [] }], body: Type.Object({ name: Type.String(), to: Type.String() }, { additionalProperties: false }), response: withErrors({ 200: TxResult }) }
  }, async request => txResult(await transferModel(ledger, { name: request.body.name, to: address(request.body.to, 'Recipient') })))

  app.post<{ Body: { name: string, price?: string, rentPrice?: string, period?: string } }>(`${API_PREFIX}/market/list`, {
    schema: {
      tags: ['market'],
      summary: 'List a model for sale and/or rent (prices in whole tokens, decimals allowed; period like 30d, 12h, 3600s)',
      security: [{ apiToken: [] }],
      body: Type.Object({ name: Type.String(), price: Type.Optional(Type.String()), rentPrice: Type.Optional(Type.String()), period: Type.Optional(Type.String()) }, { additionalProperties: false }),
      response: withErrors({ 200: TxResult })
    }
  }, async request => {
    const { name, price, rentPrice, period } = request.body
    if (price == null && rentPrice == null) throw new InvalidInputError('Give a purchase price (--price), a rental price (--rent) or both.')
    if (rentPrice != null && period == null) throw new InvalidInputError('A rental price needs a rental period (--period, e.g. 30d).')
    const result = await listModel(ledger, {
      name,
      ...(price != null ? { price: parseTokens(price) } : {}),
      ...(rentPrice != null ? { rentPrice: parseTokens(rentPrice), rentPeriod: parseDuration(period!) } : {})
    })
    await components.licences.refresh()
    return txResult(result)
  })

  app.post<{ Body: { name: string } }>(`${API_PREFIX}/market/unlist`, {
    schema: { tags: ['market'], summary: 'Take a model off the market', security: [{ apiToken: [] }], body: NameBody, response: withErrors({ 200: TxResult }) }
  }, async request => {
    const result = await unlistModel(ledger, { name: request.body.name })
    await components.licences.refresh()
    return txResult(result)
  })

  app.post<{ Body: { name: string } }>(`${API_PREFIX}/market/buy`, {
    schema: { tags: ['market'], summary: 'Buy a perpetual licence', security: [{ apiToken: [] }], body: NameBody, response: withErrors({ 200: TxResult }) }
  }, async request => txResult(await buyLicense(ledger, { name: request.body.name })))

  app.post<{ Body: { name: string, periods?: number } }>(`${API_PREFIX}/market/rent`, {
    schema: {
      tags: ['market'],
      summary: 'Rent a model (or extend a rental) for some periods',
      security: [{ apiToken: [] }],
      body: Type.Object({ name: Type.String(), periods: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }, { additionalProperties: false }),
      response: withErrors({ 200: TxResult })
    }
  }, async request => txResult(await rentLicense(ledger, { name: request.body.name, periods: request.body.periods ?? 1 })))

  app.get<{ Params: { name: string } }>(`${API_PREFIX}/market/listings/:name`, {
    schema: { tags: ['market'], summary: 'A model\'s listing', params: Type.Object({ name: Type.String() }) }
  }, async request => {
    const listing = await getListing(ledger, { name: request.params.name })
    if (listing == null) throw new NotFoundError(`${request.params.name} is not on the market.`, { code: 'NOT_LISTED' })
    return { ...listing, price: units(listing.price), rentPrice: units(listing.rentPrice) }
  })

  app.get(`${API_PREFIX}/channels`, {
    schema: { tags: ['market'], summary: 'Payment channels: opened to providers, and accepted from clients' }
  }, async () => components.payments.channels())

  app.post(`${API_PREFIX}/channels/claim`, {
    schema: { tags: ['market'], summary: 'Claim the latest voucher of every channel with something unclaimed', security: [{ apiToken: [] }] }
  }, async () => ({ claimed: await components.payments.claimAll() }))

  app.get<{ Querystring: { names?: string } }>(`${API_PREFIX}/market/licenses`, {
    schema: { tags: ['market'], summary: 'Licences this node holds, for the models it stores and follows (or ?names=a,b)', querystring: Type.Object({ names: Type.Optional(Type.String()) }) }
  }, async request => {
    const names = request.query.names != null
      ? request.query.names.split(',').filter(name => name !== '')
      : await licensedNames(ledger)
    const licenses = []
    for (const name of names) {
      const listing = await getListing(ledger, { name })
      if (listing == null) continue
      const license = await getLicense(ledger, { name })
      if (license.licensed || license.rentalExpiresAt != null) licenses.push({ name, ...license })
    }
    return { licenses }
  })
}
