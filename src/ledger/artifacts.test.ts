import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { ARTIFACTS_DIR, compileContracts, renderArtifact, ROOT } from '../../contracts/build.ts'

const REBUILD = 'The checked-in artifacts are stale: run `npm run build:contracts` and commit src/ledger/artifacts.'

function listArtifacts (dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap(entry => entry.isDirectory()
    ? listArtifacts(path.join(dir, entry.name))
    : entry.name.endsWith('.ts') ? [path.relative(ROOT, path.join(dir, entry.name)).split(path.sep).join('/')] : [])
}

test('checked-in contract artifacts match a fresh compilation of contracts/ (ABI and bytecode)', () => {
  const { contracts, warnings, solcVersion } = compileContracts()
  assert.deepEqual(warnings, [], 'solc warns about our sources')
  for (const contract of contracts) {
    const file = path.join(ROOT, contract.artifactPath)
    assert.ok(fs.existsSync(file), `${contract.artifactPath} is missing. ${REBUILD}`)
    assert.equal(fs.readFileSync(file, 'utf8'), renderArtifact(contract, solcVersion), `${contract.artifactPath} differs from ${contract.source}. ${REBUILD}`)
  }
  assert.deepEqual(listArtifacts(ARTIFACTS_DIR).sort(), contracts.map(contract => contract.artifactPath).sort(), `Artifacts without a contract. ${REBUILD}`)
})
