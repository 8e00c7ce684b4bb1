import { assertValidName } from '../manifest/validate.ts'
import { logger } from '../utils/logger.ts'
import { pullModel, type PullComponents } from './pullModel.ts'
import type { Follow } from './localIndex.ts'
import type { Announcer, ReceivedAnnouncement } from '../net/announce/announcer.ts'

const log = logger('registry:follow')

export interface FollowServiceComponents extends PullComponents {
  announcer: PullComponents['announcer'] & Pick<Announcer, 'onAnnouncement'>
}

/**
 * Keeps followed models current: every announced version of a followed name is pulled as soon as
 * it is heard of. The first version pulled pins the publisher; later versions must be signed by the
 * same key (until the on-chain registry decides who may publish a name).
 */
export class FollowService {
  private readonly components: FollowServiceComponents
  private readonly inFlight = new Map<string, Promise<void>>()
  private unsubscribe: (() => void) | undefined
  private readonly controller = new AbortController()

  constructor (components: FollowServiceComponents) {
    this.components = components
  }

  start (): void {
    this.unsubscribe = this.components.announcer.onAnnouncement(announcement => { this.onAnnouncement(announcement) })
  }

  async stop (): Promise<void> {
    this.unsubscribe?.()
    this.controller.abort()
    await Promise.allSettled(this.inFlight.values())
  }

  /** Follows `name` and fetches its newest version if one is known on the network. */
  async follow (name: string): Promise<Follow> {
    assertValidName(name)
    const local = this.components.index.newest(name)
    this.components.index.follow(name, local?.author)
    void this.sync(name, name)
    return this.components.index.following(name)!
  }

  unfollow (name: string): boolean {
    return this.components.index.unfollow(name)
  }

  list (): Follow[] {
    return this.components.index.follows()
  }

  /** Resolves when every pull started so far has finished (tests and shutdown use it). */
  async idle (): Promise<void> {
    await Promise.allSettled(this.inFlight.values())
  }

  private onAnnouncement (announcement: ReceivedAnnouncement): void {
    if (announcement.type !== 'version' || this.components.index.following(announcement.name) == null) return
    if (this.components.index.byCid(announcement.cid) != null) return
    void this.sync(announcement.name, announcement.cid)
  }

  private async sync (name: string, ref: string): Promise<void> {
    if (this.inFlight.has(ref)) return await this.inFlight.get(ref)
    const run = (async () => {
      const follow = this.components.index.following(name)
      if (follow == null) return
      try {
        const { manifest, fetched } = await pullModel(this.components, { ref, expectedAuthor: follow.author, signal: this.controller.signal })
        if (manifest.name !== name) return
        this.components.index.setFollowAuthor(name, manifest.author)
        if (fetched) log('following %s: fetched %s', name, manifest.version)
      } catch (err: any) {
        log('following %s: could not pull %s: %s', name, ref, err.message)
      }
    })()
    this.inFlight.set(ref, run)
    try {
      await run
    } finally {
      this.inFlight.delete(ref)
    }
  }
}
