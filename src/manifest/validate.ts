import parseSpdx from 'spdx-expression-parse'
import correctSpdx from 'spdx-correct'
import semver from 'semver'
import { InvalidInputError } from '../errors.ts'

/**
 * Names are one or two segments (`model` or `org/model`), like Hugging Face repositories, but
 * lowercase only so that no two names differ by case alone.
 */
const NAME_SEGMENT = '[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?'
const NAME_PATTERN = new RegExp(`^${NAME_SEGMENT}(?:/${NAME_SEGMENT})?$`)
const TAG_PATTERN = /^[a-z0-9][a-z0-9:._+-]{0,63}$/
export const MAX_TAGS = 32
const MAX_PATH_LENGTH = 1024

export function assertValidName (name: string): void {
  if (!NAME_PATTERN.test(name) || name.includes('..')) {
    throw new InvalidInputError(`Illegal model name "${name}".`, {
      code: 'INVALID_NAME',
      hint: 'A name is `model` or `org/model`: lowercase letters, digits, ".", "_" and "-", each part 1-64 characters, starting and ending with a letter or digit.'
    })
  }
}

export function assertValidVersion (version: string): void {
  if (semver.valid(version) !== version) {
    throw new InvalidInputError(`Invalid version "${version}": not a semantic version.`, {
      code: 'INVALID_VERSION',
      hint: 'Use MAJOR.MINOR.PATCH, e.g. 1.0.0 or 2.1.0-rc.1 (see semver.org).'
    })
  }
}

export function assertValidLicense (license: string): void {
  try {
    parseSpdx(license)
  } catch {
    const suggestion = correctSpdx(license)
    throw new InvalidInputError(`"${license}" is not a valid SPDX license expression.`, {
      code: 'INVALID_LICENSE',
      hint: suggestion != null ? `Did you mean "${suggestion}"?` : 'Use an SPDX identifier such as MIT or Apache-2.0 (spdx.org/licenses), or LicenseRef-<name>.'
    })
  }
}

export function assertValidTags (tags: readonly string[]): void {
  if (tags.length > MAX_TAGS) throw new InvalidInputError(`Too many tags (${tags.length}); at most ${MAX_TAGS}.`, { code: 'INVALID_TAG' })
  for (const tag of tags) {
    if (!TAG_PATTERN.test(tag)) {
      throw new InvalidInputError(`Illegal tag "${tag}".`, { code: 'INVALID_TAG', hint: 'Tags are lowercase, 1-64 characters of letters, digits and ":._+-".' })
    }
  }
}

/** A file path inside a package: relative, forward slashes, no `.`/`..` segments, no control characters. */
export function assertValidFilePath (filePath: string): void {
  const bad = filePath === '' ||
    filePath.length > MAX_PATH_LENGTH ||
    filePath.startsWith('/') ||
    filePath.includes('\\') ||
    [...filePath].some(c => c.charCodeAt(0) < 0x20) ||
    filePath.split('/').some(segment => segment === '' || segment === '.' || segment === '..')
  if (bad) {
    throw new InvalidInputError(`Illegal file path "${filePath}" in the package.`, {
      code: 'INVALID_PATH',
      hint: 'Paths are relative, use "/" as separator and contain no empty, "." or ".." segments.'
    })
  }
}

/** `name@version`, or `name` alone for the newest version. */
export function parseNameRef (ref: string): { name: string, version?: string } {
  const at = ref.lastIndexOf('@')
  if (at <= 0) return { name: ref }
  return { name: ref.slice(0, at), version: ref.slice(at + 1) }
}
