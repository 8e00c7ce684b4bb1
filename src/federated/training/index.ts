/**
 * Training on a node: the JSON architecture spec and its tfjs model, local data loaders, the
 * built-in tfjs (wasm) trainer with FedProx, ONNX export, and the external-trainer protocol.
 */
export {
  ARCHITECTURE_LIMITS,
  InvalidArchitectureError,
  checkWeightsFor,
  describeArchitecture,
  initialWeights,
  isArchitecture,
  parseArchitecture,
  validateArchitecture
} from './architecture.ts'
export { buildModel, getModelWeights, modelVariables, setModelWeights } from './tfModel.ts'
export type { Activation, Architecture, ArchitectureSpec, LayerSpec, ParameterSpec, ResolvedLayer } from './architecture.ts'
export { ensureBackend } from './backend.ts'
export type { TrainingBackend } from './backend.ts'
export {
  InvalidDataError,
  checkDataset,
  classCounts,
  featureSize,
  holdOut,
  loadCsv,
  loadImageFolder,
  loadJsonl,
  loadLocalData,
  loadMnist,
  parseCsv,
  parseJsonl,
  partitionNonIid,
  subset
} from './data.ts'
export type { CsvOptions, DataFormat, Dataset, ImageFolderOptions, JsonlOptions, LocalDataOptions, MnistOptions, PartitionOptions } from './data.ts'
export { InvalidImageError, decodeImage } from './images.ts'
export type { DecodedImage } from './images.ts'
export { TrainingDivergedError, evaluate, predict, trainLocal } from './trainer.ts'
export type { EvaluateOptions, EvaluationResult, OptimizerName, TrainLocalOptions, TrainLocalResult, TrainingMetrics } from './trainer.ts'
export { ONNX_INPUT_NAME, ONNX_OUTPUT_NAME, exportOnnx } from './exportOnnx.ts'
export type { ExportOnnxOptions } from './exportOnnx.ts'
export {
  ExternalTrainerError,
  TRAINER_PROTOCOL,
  TrainerOutputError,
  runExternalTrainer
} from './externalTrainer.ts'
export type { ExternalTrainerConfig, ExternalTrainerResult, RunExternalTrainerOptions, TrainerConfigFile } from './externalTrainer.ts'
