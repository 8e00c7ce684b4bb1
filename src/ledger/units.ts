import { formatUnits, parseUnits } from 'viem'
import { InvalidInputError } from '../errors.ts'
import { TOKEN_DECIMALS, TOKEN_SYMBOL } from './constants.ts'

/** "1.5" (whole tokens, decimals allowed) → token base units. */
export function parseTokens (text: string): bigint {
  const trimmed = text.trim()
  if (!/^\d+(\.\d+)?$/.test(trimmed)) throw new InvalidInputError(`Invalid amount "${text}".`, { hint: 'Give an amount in whole tokens, decimals allowed, e.g. 10 or 2.5.' })
  const [, fraction = ''] = trimmed.split('.')
  if (fraction.length > TOKEN_DECIMALS) throw new InvalidInputError(`Invalid amount "${text}": at most ${TOKEN_DECIMALS} decimals.`)
  return parseUnits(trimmed, TOKEN_DECIMALS)
}

/** Token base units → "1.5 MYC". */
export function formatTokens (units: bigint): string {
  return `${formatUnits(units, TOKEN_DECIMALS)} ${TOKEN_SYMBOL}`
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400, w: 604_800 }

/** "30d", "12h", "90m", "3600s" (or plain seconds) → seconds. */
export function parseDuration (text: string): number {
  const match = /^(\d+)([smhdw]?)$/.exec(text.trim())
  if (match == null) throw new InvalidInputError(`Invalid duration "${text}".`, { hint: 'Use a whole number with a unit: 3600s, 90m, 12h, 30d or 2w.' })
  const seconds = Number(match[1]) * DURATION_UNITS[match[2] === '' ? 's' : match[2]]
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new InvalidInputError(`Invalid duration "${text}": it must be positive.`)
  return seconds
}
