/** Differential privacy, privacy accounting and secure aggregation for federated rounds. */
export { withDifferentialPrivacy, clipUpdate, dpNoiseStd, type DpConfig, type DpState } from './dp.ts'
export { RdpAccountant, computeRdp, rdpToEpsilon, dpEpsilon, DEFAULT_RDP_ORDERS, type AccountantSnapshot, type SampledGaussianParams } from './rdp.ts'
export { ChaChaRng, prgUint32, nonceFromCounter, SEED_BYTES } from './prng.ts'
export {
  createMaskedUpdate,
  dequantizeSum,
  generateSecAggKeyPair,
  generateSelfMaskSeed,
  pairwiseSeed,
  quantizationConfig,
  quantize,
  reconstructSeed,
  secAggPublicKey,
  shareSeed,
  unmaskSum,
  type MaskingInput,
  type QuantizationConfig,
  type SecAggKeyPair,
  type SecAggPeer,
  type SeedShare,
  type UnmaskInput
} from './secureAggregation.ts'
export { splitSecret, combineShares, SHAMIR_PRIME, type Share } from './shamir.ts'
