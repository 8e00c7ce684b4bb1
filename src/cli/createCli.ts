import path from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { formatUnits } from 'viem'
import { createClient, type ClientOptions } from '../client/createClient.ts'
import { cardPathOf, collectFiles } from '../client/collectFiles.ts'
import { downloadModel, showOrPull } from '../client/downloadModel.ts'
import { InvalidInputError } from '../errors.ts'
import { parseHostPort, readPassphrase } from '../node/config.ts'
import { initHome } from '../node/initHome.ts'
import { resolveHome } from '../node/home.ts'
import { registerFlCommands } from './flCommands.ts'
import { formatBytes, printResult, progressBar, pullProgress, reportError, type OutputOptions } from './output.ts'
import { createWriteStream } from 'node:fs'
import fs from 'node:fs/promises'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

interface GlobalOptions extends OutputOptions { home?: string, apiUrl?: string }

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]
const parsePositiveInt = (value: string): number => {
  const parsed = Number(value)
  // Commander reports it as a usage error (exit 2) naming the option.
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new InvalidArgumentError(`"${value}" is not a positive whole number.`)
  return parsed
}

/** Turns argv into options and calls the programmatic API; nothing else lives here. */
export function createCli (): Command {
  const program = new Command('myc')
    .description('Mycelium: share, fetch, run and train machine-learning models on a peer-to-peer network.')
    .option('--home <dir>', 'node home (default: $MYC_HOME or ~/.mycelium)')
    .option('--api-url <url>', 'API URL of the node to talk to (default: $MYC_API, else found in the node home)')
    .option('--json', 'print machine-readable JSON')
    .showHelpAfterError()
    .exitOverride()

  const globals = (command: Command): GlobalOptions => command.optsWithGlobals()
  const client = async (options: GlobalOptions) => await createClient({ home: options.home, apiUrl: options.apiUrl } satisfies ClientOptions)
  /** Runs an action, printing any error as a message with a hint and setting a non-zero exit code. */
  const action = <A extends unknown[]>(fn: (...args: A) => Promise<void>) => async (...args: A) => {
    const command = args[args.length - 1] as Command
    try {
      await fn(...args)
    } catch (err) {
      process.exitCode = reportError(globals(command), err)
    }
  }

  program.command('init')
    .description('create a node home with a new secp256k1 key (PeerId = EVM address)')
    .option('--passphrase-file <file>', 'encrypt the key with the passphrase in this file')
    .action(action(async (options: { passphraseFile?: string }, command: Command) => {
      const g = globals(command)
      const { identity, home } = await initHome({ home: resolveHome(g.home), passphrase: await readPassphrase(options.passphraseFile) })
      printResult(g, { home, peerId: identity.peerId.toString(), address: identity.address, encrypted: options.passphraseFile != null },
        () => `Initialized node home ${home}\nPeerId:  ${identity.peerId.toString()}\nAddress: ${identity.address}`)
    }))

  program.command('start')
    .description('run the node (daemon): P2P host and the HTTP API')
    .option('--api <host:port>', 'where the HTTP API listens (default 127.0.0.1:7710; port 0 picks a free port)')
    .addOption(new Option('--listen <multiaddr>', 'libp2p listen address (repeatable)').argParser(collect))
    .option('--passphrase-file <file>', 'passphrase of an encrypted node key')
    .addOption(new Option('--bootstrap <multiaddr>', 'peer to connect to at start (repeatable)').argParser(collect))
    .option('--no-mdns', 'do not discover peers on the local network')
    .option('--network <id>', 'network id (nodes of other networks are not mixed)')
    .option('--swarm-key <file>', 'join a private network (libp2p pnet swarm key)')
    .option('--serve-rate <bytes-per-second>', 'limit the upload bandwidth used to serve peers', parsePositiveInt)
    .option('--pull-timeout <seconds>', 'give up a pull after this long without progress', parsePositiveInt)
    .option('--chain-rpc <url>', 'use an external EVM chain (e.g. another node\'s http://HOST:PORT/rpc) instead of the embedded one')
    .option('--contracts <file>', 'contracts file of the external chain (written by `myc chain deploy`)')
    .option('--allow-unregistered', 'accept versions the on-chain registry does not hold (pulls, follows)')
    .action(action(async (options: { api?: string, listen?: string[], passphraseFile?: string, bootstrap?: string[], mdns: boolean, network?: string, swarmKey?: string, serveRate?: number, pullTimeout?: number, chainRpc?: string, contracts?: string, allowUnregistered?: boolean }, command: Command) => {
      const g = globals(command)
      const api = options.api != null ? parseHostPort(options.api) : undefined
      // Loaded lazily: client commands should not pay for libp2p and fastify at start-up.
      const { startDaemon } = await import('./startDaemon.ts')
      await startDaemon({
        home: g.home,
        apiHost: api?.host,
        apiPort: api?.port,
        listen: options.listen,
        passphraseFile: options.passphraseFile,
        bootstrap: options.bootstrap,
        mdns: options.mdns ? undefined : false,
        network: options.network,
        swarmKeyFile: options.swarmKey,
        serveRate: options.serveRate,
        pullTimeoutMs: options.pullTimeout != null ? options.pullTimeout * 1000 : undefined,
        chainRpc: options.chainRpc,
        contractsFile: options.contracts,
        allowUnregistered: options.allowUnregistered
      }, g)
      // Stopped cleanly: leave now rather than wait for libraries' idle timers.
      process.exit(process.exitCode ?? 0)
    }))

  program.command('swarm-key')
    .description('print a new private-network swarm key (give the same file to every node, then start them with --swarm-key)')
    .action(action(async () => {
      const { generateKey } = await import('@libp2p/pnet')
      const key = new Uint8Array(95)
      generateKey(key)
      process.stdout.write(new TextDecoder().decode(key))
    }))

  program.command('peers')
    .description('list connected peers')
    .action(action(async (_options: unknown, command: Command) => {
      const g = globals(command)
      const peers = await (await client(g)).peers()
      printResult(g, peers, () => peers.length === 0 ? 'No peers connected.' : peers.map(peer => `${peer.peerId}  ${peer.address ?? ''}  ${peer.addrs.join(' ')}`).join('\n'))
    }))

  program.command('connect <multiaddr>')
    .description('connect to a peer')
    .action(action(async (address: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const result = await (await client(g)).connect(address)
      printResult(g, result, () => `Connected to ${result.peerId}`)
    }))

  program.command('pull <ref>')
    .description('fetch a version from the network (verified, resumable) and keep serving it')
    .option('--timeout <seconds>', 'give up after this long without progress', parsePositiveInt)
    .option('--allow-unregistered', 'accept a version the on-chain registry does not hold')
    .action(action(async (ref: string, options: { timeout?: number, allowUnregistered?: boolean }, command: Command) => {
      const g = globals(command)
      const api = await client(g)
      const progress = pullProgress(g)
      try {
        const done = await api.pull(ref, { timeoutMs: options.timeout != null ? options.timeout * 1000 : undefined, allowUnregistered: options.allowUnregistered, onEvent: progress.onEvent })
        progress.stop()
        if (g.json !== true) printResult(g, done, () => `${done.fetched ? 'Pulled' : 'Already here:'} ${done.name}@${done.version} ${done.cid}`)
      } finally {
        progress.stop()
      }
    }))

  program.command('follow <name>')
    .description('fetch every new version of NAME as soon as it is announced (persists across restarts)')
    .action(action(async (name: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const follow = await (await client(g)).follow(name)
      printResult(g, follow, () => `Following ${follow.name}${follow.author != null ? ` (published by ${follow.author})` : ''}`)
    }))

  program.command('unfollow <name>')
    .description('stop following NAME (versions already fetched stay)')
    .action(action(async (name: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const removed = await (await client(g)).unfollow(name)
      printResult(g, { name, removed }, () => removed ? `No longer following ${name}` : `Was not following ${name}`)
    }))

  program.command('follows')
    .description('list followed names')
    .action(action(async (_options: unknown, command: Command) => {
      const g = globals(command)
      const follows = await (await client(g)).follows()
      printResult(g, follows, () => follows.length === 0 ? 'Not following anything.' : follows.map(f => `${f.name}${f.author != null ? `  ${f.author}` : ''}`).join('\n'))
    }))

  program.command('id')
    .description('print the node PeerId, EVM address, API URL and listen addresses')
    .action(action(async (_options: unknown, command: Command) => {
      const g = globals(command)
      const id = await (await client(g)).id()
      printResult(g, id, () => [`PeerId:  ${id.peerId}`, `Address: ${id.address}`, `API:     ${id.apiUrl}`, 'Listening on:', ...id.multiaddrs.map(ma => `  ${ma}`)].join('\n'))
    }))

  program.command('publish <path>')
    .description('publish a model file or directory as a signed, content-addressed version')
    .requiredOption('--name <name>', 'model name: `model` or `org/model`')
    .requiredOption('--version <semver>', 'version, e.g. 1.0.0')
    .option('--license <spdx>', 'SPDX license expression, e.g. Apache-2.0')
    .option('--card <file>', 'model card (README.md)')
    .option('--tag <tag>', 'tag (repeatable)', collect)
    .option('--task <task>', 'task, e.g. image-classification')
    .option('--parent <ref>', 'version this one derives from (repeatable)', collect)
    .option('--upload', 'stream the files over HTTP even to a node on this machine (which otherwise reads them itself)')
    .action(action(async (target: string, options: { name: string, version: string, license?: string, card?: string, tag?: string[], task?: string, parent?: string[], upload?: boolean }, command: Command) => {
      const g = globals(command)
      const collected = await collectFiles(target, options.card)
      const api = await client(g)
      const bar = progressBar(g, 'publishing', collected.totalBytes)
      try {
        const result = await api.publish({
          name: options.name,
          version: options.version,
          license: options.license,
          card: cardPathOf(collected, options.card),
          tags: options.tag,
          task: options.task,
          parents: options.parent
        }, collected.files, bytes => bar.update(bytes), { upload: options.upload })
        bar.stop()
        printResult(g, result, () => result.cid)
      } finally {
        bar.stop()
      }
    }))

  program.command('ls')
    .description('list the model versions stored on this node')
    .action(action(async (_options: unknown, command: Command) => {
      const g = globals(command)
      const versions = await (await client(g)).list()
      printResult(g, versions, () => versions.length === 0
        ? 'No models yet. Publish one with `myc publish PATH --name NAME --version 1.0.0`.'
        : versions.map(v => `${`${v.name}@${v.version}`.padEnd(40)} ${formatBytes(v.size).padStart(10)}  ${v.cid}`).join('\n'))
    }))

  program.command('show <ref>')
    .description('show a version: manifest, files and their format metadata')
    .action(action(async (ref: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const detail = await (await client(g)).show(ref)
      printResult(g, detail, () => describeVersion(detail))
    }))

  program.command('get <ref>')
    .description('write the files of a version into a directory (verified, byte-identical)')
    .option('-o, --output <dir>', 'output directory (default: ./NAME-VERSION)')
    .action(action(async (ref: string, options: { output?: string }, command: Command) => {
      const g = globals(command)
      const api = await client(g)
      // `get --json` prints only its result; the pull's events are for `pull --json`.
      const progress = pullProgress({ json: false })
      const detail = await showOrPull(api, ref, progress.onEvent).finally(() => { progress.stop() })
      const outDir = options.output ?? `${detail.manifest.name.replace('/', '__')}-${detail.manifest.version}`
      const bar = progressBar(g, 'downloading', detail.entry.size)
      try {
        const result = await downloadModel(api, { ref: detail.cid, outDir, onBytes: done => bar.update(done) })
        bar.stop()
        printResult(g, { cid: detail.cid, outDir: result.outDir, files: result.files }, () => `Wrote ${result.files.length} file(s) to ${result.outDir}`)
      } finally {
        bar.stop()
      }
    }))

  program.command('infer <ref>')
    .description('run a model on input tensors (fetched first if needed); inputs are JSON or .npy files')
    .addOption(new Option('-i, --input <[name=]file>', 'input tensors: a JSON file of all inputs, or NAME=FILE per input (repeatable)').argParser(collect))
    .option('-o, --output <file>', 'write the outputs to a .json file (or .npy for a single output)')
    .option('--file <path>', 'which .onnx file of the version to run, when it has several')
    .option('--remote', 'run on a provider on the network (the next one is tried if it fails)')
    .option('--peer <peerId>', 'run on this provider')
    .action(action(async (ref: string, options: { input?: string[], output?: string, file?: string, remote?: boolean, peer?: string }, command: Command) => {
      const g = globals(command)
      const { inferModel } = await import('../client/inferModel.ts')
      const { encodeJsonTensors } = await import('../inference/codecs/json.ts')
      const result = await inferModel(await client(g), { ref, inputs: options.input ?? [], file: options.file, remote: options.remote, peer: options.peer })
      if (options.output != null) {
        if (options.output.toLowerCase().endsWith('.npy')) {
          if (result.outputs.length !== 1) throw new InvalidInputError(`The model has ${result.outputs.length} outputs; a .npy file holds one.`, { hint: 'Write JSON instead (--output out.json).' })
          const { encodeNpy } = await import('../inference/codecs/npy.ts')
          await fs.writeFile(options.output, encodeNpy(result.outputs[0]))
        } else {
          await fs.writeFile(options.output, JSON.stringify(encodeJsonTensors(result.outputs, { nested: true })) + '\n')
        }
      }
      const outputs = encodeJsonTensors(result.outputs, { nested: true })
      printResult(g, { model: result.model, outputs, ...(result.provider != null ? { provider: result.provider, receipt: result.receipt } : {}) }, () => [
        `${result.model.name}@${result.model.version}${result.provider != null ? ` (ran on ${result.provider})` : ''}`,
        ...result.outputs.map(tensor => {
          const values = (outputs[tensor.name].data as unknown[]).flat(Infinity)
          return `${tensor.name}: ${tensor.dtype}[${tensor.shape.join(', ')}] ${JSON.stringify(values.slice(0, 16))}${values.length > 16 ? ` … (${values.length} values)` : ''}`
        }),
        ...(result.receipt != null ? [`receipt ${result.receipt}`] : []),
        ...(options.output != null ? [`Wrote ${options.output}`] : [])
      ].join('\n'))
    }))

  program.command('serve <ref>')
    .description('offer inference on a stored ONNX version to the network')
    .option('--price <tokens>', 'price per call in whole tokens (decimals allowed)', '0')
    .option('--max-concurrency <n>', 'calls run at once; more are queued, then refused', parsePositiveInt)
    .action(action(async (ref: string, options: { price: string, maxConcurrency?: number }, command: Command) => {
      const g = globals(command)
      const served = await (await client(g)).serve(ref, { price: options.price, ...(options.maxConcurrency != null ? { maxConcurrency: options.maxConcurrency } : {}) })
      printResult(g, served, () => `Serving ${served.name}@${served.version} (${served.cid}) at ${formatUnits(BigInt(served.price), 18)} tokens per call, ${served.maxConcurrency} at once`)
    }))

  program.command('unserve <ref>')
    .description('stop offering inference on a version')
    .action(action(async (ref: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const removed = await (await client(g)).unserve(ref)
      printResult(g, { ref, removed }, () => removed ? `Stopped serving ${ref}` : `Was not serving ${ref}`)
    }))

  program.command('services')
    .description('list the versions this node serves inference on')
    .action(action(async (_options: unknown, command: Command) => {
      const g = globals(command)
      const services = await (await client(g)).services()
      printResult(g, services, () => services.length === 0 ? 'Serving nothing. Start with `myc serve REF`.' : services.map(s => `${`${s.name}@${s.version}`.padEnd(40)} ${formatUnits(BigInt(s.price), 18)} tokens/call  ${s.cid}`).join('\n'))
    }))

  program.command('providers <ref>')
    .description('list the peers that serve inference on a version, cheapest first')
    .action(action(async (ref: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const providers = await (await client(g)).providers(ref)
      printResult(g, providers, () => providers.length === 0 ? 'No provider known.' : providers.map(p => `${p.peerId}  ${formatUnits(BigInt(p.price), 18)} tokens/call  (${p.source})`).join('\n'))
    }))

  const chain = program.command('chain').description('the ledger: chain info, dev faucet, contract deployment')
  chain.command('info')
    .description('chain id, contract addresses, JSON-RPC URL and network id')
    .action(action(async (_options: unknown, command: Command) => {
      const g = globals(command)
      const info = await (await client(g)).chain()
      printResult(g, info, () => [
        `Chain:   ${info.chainId} (${info.embedded ? 'embedded' : 'external'})`,
        `RPC:     ${info.rpcUrl}`,
        `Network: ${info.network}`,
        `Account: ${info.account}`,
        ...Object.entries(info.deployment.contracts).map(([name, address]) => `${name.padEnd(16)} ${address}`)
      ].join('\n'))
    }))
  chain.command('faucet')
    .description('get gas money and test tokens on the dev chain (embedded, or the node whose /rpc this node uses)')
    .option('--to <address>', 'fund this address instead of the node\'s own')
    .action(action(async (options: { to?: string }, command: Command) => {
      const g = globals(command)
      const result = await (await client(g)).faucet(options.to)
      printResult(g, result, () => `Funded ${result.address}`)
    }))
  chain.command('deploy')
    .description('deploy the contracts on an external chain with the node key, and write the contracts file')
    .requiredOption('--rpc <url>', 'JSON-RPC URL of the chain')
    .option('-o, --output <file>', 'contracts file to write', 'contracts.json')
    .option('--passphrase-file <file>', 'passphrase of an encrypted node key')
    .action(action(async (options: { rpc: string, output: string, passphraseFile?: string }, command: Command) => {
      const g = globals(command)
      const { deployToRpc } = await import('../ledger/deployToRpc.ts')
      const deployment = await deployToRpc({ home: resolveHome(g.home), rpcUrl: options.rpc, output: options.output, passphrase: await readPassphrase(options.passphraseFile) })
      printResult(g, deployment, () => `Deployed on chain ${deployment.chainId}; wrote ${options.output}\n${Object.entries(deployment.contracts).map(([name, address]) => `${name.padEnd(16)} ${address}`).join('\n')}`)
    }))

  const channels = program.command('channels').description('payment channels for paid inference')
  channels.command('list', { isDefault: true })
    .description('channels opened to providers, and vouchers accepted from clients')
    .action(action(async (_options: unknown, command: Command) => {
      const g = globals(command)
      const result = await (await client(g)).channels()
      printResult(g, result, () => [
        'Opened (as a client):', ...result.outgoing.map((c: any) => `  ${c.channelId} → ${c.provider}: spent ${formatUnits(BigInt(c.spent), 18)} of ${formatUnits(BigInt(c.deposit), 18)} MYC`),
        'Accepted (as a provider):', ...result.incoming.map((c: any) => `  ${c.channelId} ← ${c.client}: ${formatUnits(BigInt(c.accepted), 18)} MYC, claimed ${formatUnits(BigInt(c.claimed), 18)}`)
      ].join('\n'))
    }))
  channels.command('claim')
    .description('claim the latest voucher of every channel (provider)')
    .action(action(async (_options: unknown, command: Command) => {
      const g = globals(command)
      const claimed = await (await client(g)).claimChannels()
      printResult(g, claimed, () => claimed.length === 0 ? 'Nothing to claim.' : claimed.map(c => `Claimed ${formatUnits(BigInt(c.amount), 18)} MYC from ${c.channelId}`).join('\n'))
    }))

  program.command('audit <ref>')
    .description('the on-chain trail of a model: registration, versions, publishers, listings, sales, rentals, royalties, usage anchors')
    .option('--proof <receipt-hash>', 'verify a usage receipt served by this node against its anchored Merkle root')
    .action(action(async (ref: string, options: { proof?: string }, command: Command) => {
      const g = globals(command)
      const audit = await (await client(g)).audit(ref, options.proof)
      printResult(g, audit, () => [
        `${audit.name} on chain ${audit.chainId}`,
        ...audit.events.map((e: any) => `  block ${String(e.blockNumber).padStart(6)}  ${new Date(e.timestamp * 1000).toISOString()}  ${e.eventName.padEnd(18)} ${e.actor}  ${Object.entries(e.args).filter(([k]) => !['nameHash'].includes(k)).map(([k, v]) => `${k}=${String(v)}`).join(' ')}  tx ${e.transactionHash}`),
        'Manifests:',
        ...audit.manifests.map((m: any) => `  ${m.version.padEnd(12)} ${m.cid}  ${m.valid ? `signature valid (${m.signer})` : `NOT VALID: ${m.reason ?? 'name or version mismatch'}`}`),
        `Usage: ${audit.usage.anchors.length} anchor(s), ${audit.usage.anchoredReceipts} receipt(s) anchored; ${audit.usage.receiptsServedHere} served by this node${audit.usage.recent.length > 0 ? `; latest ${audit.usage.recent.at(-1)}` : ''}`,
        ...(audit.proof != null ? [`Receipt ${audit.proof.hash} (${audit.proof.kind}): signatures ${audit.proof.signatureValid ? 'valid' : 'INVALID'}, anchor ${audit.proof.anchorId ?? '-'}: ${audit.proof.included ? 'included in the anchored root' : 'NOT PROVEN'}`] : [])
      ].join('\n'))
      if (audit.proof != null && audit.proof.included !== true) process.exitCode = 1
    }))

  registerFlCommands(program, { globals, client, action })

  program.command('balance')
    .description('gas, tokens and withdrawable earnings of the node\'s account')
    .action(action(async (_options: unknown, command: Command) => {
      const g = globals(command)
      const balance = await (await client(g)).balance()
      printResult(g, balance, () => `${balance.address}\n  gas:          ${formatUnits(BigInt(balance.eth), 18)} ETH\n  tokens:       ${formatUnits(BigInt(balance.tokens), 18)} MYC\n  withdrawable: ${formatUnits(BigInt(balance.withdrawable), 18)} MYC`)
    }))

  program.command('withdraw')
    .description('withdraw earnings (sales, rentals, royalties) to the node\'s account')
    .action(action(async (_options: unknown, command: Command) => {
      const g = globals(command)
      const result = await (await client(g)).withdraw()
      printResult(g, result, () => `Withdrew ${formatUnits(BigInt(String(result.amount ?? 0)), 18)} MYC (tx ${result.transactionHash})`)
    }))

  program.command('transfer <name> <address>')
    .description('transfer ownership of a model name to another account')
    .action(action(async (name: string, to: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const result = await (await client(g)).transfer(name, to)
      printResult(g, result, () => `Transferred ${name} to ${to} (tx ${result.transactionHash})`)
    }))

  const market = program.command('market').description('sell and rent licences')
  market.command('list <name>')
    .description('list a model for sale and/or rent (prices in whole tokens, decimals allowed)')
    .option('--price <tokens>', 'price of a perpetual licence')
    .option('--rent <tokens>', 'price of one rental period')
    .option('--period <duration>', 'rental period, e.g. 30d, 12h, 3600s')
    .action(action(async (name: string, options: { price?: string, rent?: string, period?: string }, command: Command) => {
      const g = globals(command)
      const result = await (await client(g)).marketList(name, { price: options.price, rentPrice: options.rent, period: options.period })
      printResult(g, result, () => `Listed ${name} (tx ${result.transactionHash})`)
    }))
  market.command('unlist <name>')
    .description('take a model off the market')
    .action(action(async (name: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const result = await (await client(g)).marketUnlist(name)
      printResult(g, result, () => `Unlisted ${name} (tx ${result.transactionHash})`)
    }))
  market.command('buy <name>')
    .description('buy a perpetual licence')
    .action(action(async (name: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const result = await (await client(g)).buy(name)
      printResult(g, result, () => `Bought a licence for ${name} (tx ${result.transactionHash})`)
    }))
  market.command('rent <name>')
    .description('rent a model, or extend a rental')
    .option('--periods <n>', 'rental periods to pay for', parsePositiveInt)
    .action(action(async (name: string, options: { periods?: number }, command: Command) => {
      const g = globals(command)
      const result = await (await client(g)).rent(name, options.periods)
      printResult(g, result, () => `Rented ${name} until ${new Date(Number(result.expiresAt) * 1000).toISOString()} (tx ${result.transactionHash})`)
    }))
  market.command('licenses')
    .description('licences this node holds on the models it stores or follows')
    .action(action(async (_options: unknown, command: Command) => {
      const g = globals(command)
      const licenses = await (await client(g)).licenses()
      printResult(g, licenses, () => licenses.length === 0 ? 'No licences.' : licenses.map(l => `${l.name.padEnd(30)} ${l.purchased ? 'purchased' : l.licensed ? `rented until ${new Date((l.rentalExpiresAt ?? 0) * 1000).toISOString()}` : `rental expired ${new Date((l.rentalExpiresAt ?? 0) * 1000).toISOString()}`}`).join('\n'))
    }))

  program.command('verify <ref>')
    .description('re-hash every block and check the signature; reports per file and per chunk')
    .action(action(async (ref: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const report = await (await client(g)).verify(ref)
      printResult(g, report, () => [
        `${report.name}@${report.version} (${report.cid}): ${report.ok ? 'OK' : 'FAILED'}`,
        `  signature: ${report.signature.ok ? `valid, signed by ${report.signature.signer}` : `INVALID (${report.signature.reason ?? report.manifest.reason})`}`,
        ...report.files.map(file => `  ${file.ok ? 'ok     ' : 'CORRUPT'} ${file.path} (${file.chunks} chunks)` +
          file.bad.map(chunk => `\n    chunk ${chunk.index} at bytes ${chunk.offset}-${chunk.offset + chunk.size - 1}: ${chunk.status} (block ${chunk.cid})`).join(''))
      ].join('\n'))
      if (!report.ok) process.exitCode = 1
    }))

  program.command('export <ref>')
    .description('export a version as a CAR v1 file')
    .requiredOption('--car <file>', 'CAR file to write')
    .action(action(async (ref: string, options: { car: string }, command: Command) => {
      const g = globals(command)
      const response = await (await client(g)).exportCar(ref)
      const temp = `${options.car}.myc-partial`
      try {
        await pipeline(Readable.fromWeb(response.body as any), createWriteStream(temp))
        await fs.rename(temp, options.car)
      } catch (err) {
        await fs.rm(temp, { force: true })
        throw err
      }
      const { size } = await fs.stat(options.car)
      printResult(g, { car: path.resolve(options.car), size }, () => `Wrote ${options.car} (${formatBytes(size)})`)
    }))

  program.command('import <car>')
    .description('import a version from a CAR file (verified block by block)')
    .action(action(async (car: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const stat = await fs.stat(car).catch(() => undefined)
      if (stat?.isFile() !== true) throw new InvalidInputError(`${car}: no such file.`, { code: 'NO_SUCH_PATH' })
      const result = await (await client(g)).importCar(car)
      printResult(g, result, () => `${result.added ? 'Imported' : 'Already present:'} ${result.name}@${result.version} ${result.cid} (${result.blocks} blocks)`)
    }))

  program.command('rm <ref>')
    .description('remove a version from this node (run gc to reclaim the space)')
    .action(action(async (ref: string, _options: unknown, command: Command) => {
      const g = globals(command)
      const removed = await (await client(g)).remove(ref)
      printResult(g, removed, () => `Removed ${removed.name}@${removed.version} (${removed.cid}); run \`myc gc\` to reclaim space.`)
    }))

  program.command('gc')
    .description('delete blocks that no stored version references')
    .action(action(async (_options: unknown, command: Command) => {
      const g = globals(command)
      const result = await (await client(g)).gc()
      printResult(g, result, () => `Removed ${result.removedBlocks} block(s), ${formatBytes(result.removedBytes)}; kept ${result.keptBlocks}.`)
    }))

  return program
}

function describeVersion (detail: Awaited<ReturnType<Awaited<ReturnType<typeof createClient>>['show']>>): string {
  const m = detail.manifest
  const lines = [
    `${m.name}@${m.version}`,
    `  cid:     ${detail.cid}`,
    `  author:  ${m.author}`,
    `  created: ${m.created}`,
    ...(m.license != null ? [`  license: ${m.license}`] : []),
    ...(m.task != null ? [`  task:    ${m.task}`] : []),
    ...(m.tags.length > 0 ? [`  tags:    ${m.tags.join(', ')}`] : []),
    ...(m.parents.length > 0 ? [`  parents: ${m.parents.join(', ')}`] : []),
    ...(m.card != null ? [`  card:    ${m.card}`] : []),
    '  files:'
  ]
  for (const file of m.files) {
    lines.push(`    ${file.path}  ${formatBytes(file.size)}  ${file.cid}`)
    const format = file.format as any
    if (format?.format === 'onnx') {
      lines.push(`      ONNX ir ${format.irVersion}, opset ${format.opset.map((o: any) => `${o.domain === '' ? 'ai.onnx' : o.domain}:${o.version}`).join(' ')}, producer ${format.producerName} ${format.producerVersion}, ${format.parameterCount} parameters`)
      for (const t of format.inputs) lines.push(`      input  ${t.name}: ${t.dtype}[${t.shape.join(', ')}]`)
      for (const t of format.outputs) lines.push(`      output ${t.name}: ${t.dtype}[${t.shape.join(', ')}]`)
    } else if (format?.format === 'safetensors') {
      lines.push(`      safetensors, ${format.tensors.length} tensors, ${format.parameterCount} parameters`)
      for (const t of format.tensors.slice(0, 20)) lines.push(`      ${t.name}: ${t.dtype}[${t.shape.join(', ')}]`)
      if (format.tensors.length > 20) lines.push(`      … ${format.tensors.length - 20} more`)
    } else if (format?.format === 'gguf') {
      lines.push(`      GGUF v${format.version}, ${format.tensorCount} tensors, ${format.parameterCount} parameters`)
      const arch = format.metadata['general.architecture']
      if (arch != null) lines.push(`      architecture: ${String(arch)}`)
    }
  }
  return lines.join('\n')
}
