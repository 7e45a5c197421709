// Our TypeScript port of Porcupine (github.com/anishathalye/porcupine, MIT): a fast
// linearizability checker. See README.md beside this file.

export {
  type CheckOperationsResult,
  type CheckOptions,
  checkEvents,
  checkOperations,
  type Event,
  type PartitionResult,
  type Verdict,
} from "./check.js";
export {
  canonicalJson,
  hashJson,
  hashString,
  ILLEGAL,
  jsonEqual,
  type Model,
  mix32,
  type NondeterministicModel,
  nondeterministic,
  type Operation,
  type StepResult,
  unpartitioned,
  type WholeState,
} from "./model.js";
export {
  type AppendKvInput,
  type AppendKvOutput,
  type AppendKvState,
  appendKvModel,
  casRegisterModel,
  fifoQueueModel,
  isModelName,
  type KvInput,
  kvModel,
  MODELS,
  type ModelName,
  type QueueInput,
  type QueueOutput,
  type RegisterInput,
  type RegisterOutput,
  registerModel,
  type SetInput,
  type SetOutput,
  setModel,
} from "./models.js";
