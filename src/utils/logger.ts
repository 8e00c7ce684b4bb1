import { logger as libp2pLogger } from '@libp2p/logger'

/** Namespaced debug logging (`DEBUG=mycelium:*`), the same mechanism libp2p uses. */
export function logger (namespace: string): ReturnType<typeof libp2pLogger> {
  return libp2pLogger(`mycelium:${namespace}`)
}
