// index.d.ts - TypeScript declarations for wasm/flexor.js, the JavaScript API of the FleXOR core
// (flexor.wasm). See flexor.js for the full contract of each function.

/** The numeric fx_status codes of src/flexor.h. */
export declare const Status: Readonly<{
  OK: 0;
  /** a bad argument: null pointer, out-of-range value */
  EINVAL: 1;
  /** tensor shapes that do not fit together */
  ESHAPE: 2;
  /** an allocation failed or would pass the context's memory limit */
  ENOMEM: 3;
  /** a malformed file or buffer */
  EFORMAT: 4;
  /** a file of an unsupported version */
  EVERSION: 5;
  /** NaN or Inf where a finite number is required */
  ENUMERIC: 6;
  /** a call out of order (e.g. backward before forward, a disposed model) */
  ESTATE: 7;
  /** a valid request this build or runtime cannot do (e.g. no WebAssembly SIMD) */
  EUNSUPPORTED: 8;
}>;

/** The name of a status, as carried by FlexorError.code. */
export type StatusCode =
  | 'FX_EINVAL' | 'FX_ESHAPE' | 'FX_ENOMEM' | 'FX_EFORMAT' | 'FX_EVERSION' | 'FX_ENUMERIC' | 'FX_ESTATE'
  | 'FX_EUNSUPPORTED';

/**
 * An error from the core (or from the wrapper's own argument checks, with the same codes).
 * message is `${fn}: ${detail}`; detail is the C context's message, which names the C function.
 */
export declare class FlexorError extends Error {
  constructor(fn: string, status: number, detail: string);
  readonly name: 'FlexorError';
  /** The numeric fx_status (see Status). */
  readonly status: number;
  /** The status name, e.g. 'FX_ESHAPE'. */
  readonly code: StatusCode | string;
  /** The API function that failed, e.g. 'Model.forward'. */
  readonly fn: string;
}

/** Where init() gets flexor.wasm; at most one of the three. */
export interface InitOptions {
  /** URL (or, in Node, a file path relative to the current directory) of flexor.wasm.
   *  Default: new URL('./flexor.wasm', import.meta.url). */
  wasmUrl?: string | URL;
  /** The bytes of flexor.wasm. */
  wasmBytes?: BufferSource;
  /** An already compiled flexor.wasm. */
  wasmModule?: WebAssembly.Module;
}

/** What init() resolves to: the module's API in one object. */
export interface FlexorApi {
  init: typeof init;
  version: typeof version;
  memoryStats: typeof memoryStats;
  xorNetwork: typeof xorNetwork;
  Model: typeof Model;
  Dataset: typeof Dataset;
  Trainer: typeof Trainer;
  FlexorError: typeof FlexorError;
  Status: typeof Status;
}

/**
 * Loads flexor.wasm once (concurrent and repeated calls share one promise and resolve to the same object;
 * options after the first call are ignored; a failed init can be retried). Throws a FlexorError with code
 * 'FX_EUNSUPPORTED' where WebAssembly SIMD is missing.
 */
export declare function init(opts?: InitOptions): Promise<FlexorApi>;

/** The core's version, e.g. '0.1.0'. Needs init(). */
export declare function version(): string;

/** The compiled flexor.wasm of this runtime (e.g. to start workers without compiling it again). Needs init(). */
export declare function wasmModule(): WebAssembly.Module;

export interface ModelPoolOptions {
  /** Workers (default 2, 1..64). */
  workers?: number;
  /** Largest batch of forward() (default 64); each worker holds ceil(maxBatch / workers). */
  maxBatch?: number;
}

/**
 * One model on several workers (browser module Web Workers or Node worker_threads), each with its own
 * flexor.wasm instance: forward() splits a batch into contiguous parts and runs them in parallel. The logits
 * equal one Model.forward on the whole batch, bit for bit. Speeds up batches, not single images.
 */
export declare class ModelPool {
  private constructor();
  /** Starts the workers with the model file loaded in each. Rejects with Model.load's FlexorError on a bad file. */
  static create(bytes: Uint8Array | ArrayBuffer, opts?: ModelPoolOptions): Promise<ModelPool>;
  readonly size: number;
  readonly classes: number;
  /** [c, h, w] of one input sample. */
  readonly inputShape: [number, number, number];
  /** Logits (n, classes) of n samples (NCHW), 1 <= n <= maxBatch. */
  forward(x: Float32Array, n: number): Promise<Float32Array>;
  /** Stops the workers; later calls reject. */
  terminate(): Promise<void>;
}

/** Memory accounting (see memoryStats()). */
export interface MemoryStats {
  /** Size of the wasm memory in bytes. */
  wasmBytes: number;
  /** Models created and not disposed. */
  liveModels: number;
  /** Datasets created and not disposed. */
  liveDatasets: number;
  /** Trainers created and not disposed. */
  liveTrainers: number;
  /** Bytes the contexts of the live models, datasets and trainers hold (fx_ctx_mem_used). */
  ctxBytes: number;
  /** Blocks those contexts hold (fx_ctx_live_blocks). */
  ctxBlocks: number;
  /** Bytes the wrapper holds in the wasm heap (staging buffers, dataset images and labels, scratch). */
  jsBytes: number;
  /** Blocks the wrapper holds in the wasm heap. */
  jsBlocks: number;
  /** What disposed objects' contexts still held after they were freed (should stay 0). */
  leakedBytes: number;
  leakedBlocks: number;
}

/** Memory accounting, for leak tests and diagnostics. Needs init(). */
export declare function memoryStats(): MemoryStats;

/** A uint64 seed: a non-negative safe integer or a BigInt below 2^64. */
export type Seed = number | bigint;

export interface XorNetworkConfig {
  /** Decrypted bits per slice, 1..32. */
  nOut: number;
  /** Encrypted bits per slice, 1..nOut. */
  nIn: number;
  /** Ones per row of M, 0..nIn; 0 (default) = random fill. */
  nTap?: number;
  /** Default 0. */
  seed?: Seed;
  /** Bit plane 0..3 (each plane has its own M). Default 0. */
  plane?: number;
}

export interface XorNetwork {
  /** masks[r] bit i = M[r][i] (nOut words). */
  readonly masks: Uint32Array;
  readonly nOut: number;
  readonly nIn: number;
  readonly nTap: number;
  readonly seed: Seed;
  readonly plane: number;
  /** Packed encrypted words (bit i = encrypted bit i) -> decrypted words (bit r = parity(enc & masks[r])). */
  decrypt(enc: Uint32Array | ArrayLike<number>): Uint32Array;
}

/** The XOR-gate network M of one bit plane (docs/CORE.md). Needs init(). */
export declare function xorNetwork(cfg: XorNetworkConfig): XorNetwork;

/** A FleXOR weight: q binary codes, each slice of nOut bits decrypted from nIn stored bits. */
export interface FlexorConfig {
  /** Bit planes, 1..4. Default 1. */
  q?: number;
  nOut: number;
  nIn: number;
  /** Ones per row of M (0 = random fill, the default). */
  nTap?: number;
  /** Plane p uses (seed, p). Default 0. */
  seed?: Seed;
}

export type NodeKind = 'input' | 'conv' | 'dense' | 'bn' | 'relu' | 'maxpool' | 'gap' | 'shortcut' | 'add';

export interface NodeInfo {
  id: number;
  kind: NodeKind;
  /** Input node ids (none for the input, two for add). */
  inputs: number[];
  /** Output shape of one sample [c, h, w] (dense: [out, 1, 1]). */
  shape: [number, number, number];
  /** conv/dense/shortcut output channels (0 otherwise). */
  cOut: number;
  /** conv/maxpool window (0 otherwise). */
  k: number;
  stride: number;
  pad: number;
  bias: boolean;
  /** The FleXOR configuration of a conv/dense weight; null for full precision and other kinds. seed is the
   *  one given to conv()/dense(), or null when the model was not built through them. */
  flexor: { q: number; nOut: number; nIn: number; nTap: number; seed: Seed | null } | null;
  /** Multiply-adds per sample. */
  macs: number;
}

export type ParamKind = 'w' | 'b' | 'lat' | 'alpha' | 'gamma' | 'beta' | 'rmean' | 'rvar';

export interface ParamInfo {
  /** '<node>.<kind>', e.g. '1.lat'. */
  name: string;
  node: number;
  kind: ParamKind;
  length: number;
  /** false for the BN running statistics. */
  trainable: boolean;
}

export interface ConvOptions {
  cOut: number;
  k: number;
  /** Default 1. */
  stride?: number;
  /** Zero padding; default 0. */
  pad?: number;
  /** Default false. */
  bias?: boolean;
  /** FleXOR weight, or null/absent for full precision. */
  flexor?: FlexorConfig | null;
}

export interface DenseOptions {
  out: number;
  /** Default true. */
  bias?: boolean;
  flexor?: FlexorConfig | null;
}

export interface BuildOptions {
  maxBatch: number;
  /** false: inference only (no gradients or optimiser state). Default true. */
  training?: boolean;
}

export interface InitParamsOptions {
  /** Default 0. */
  seed?: Seed;
  /** FleXOR alpha; <= 0 (default 0) gives the Kaiming scale sqrt(2/fan_in). */
  alphaInit?: number;
  /** Standard deviation of the latent values; default 0.001. */
  latStd?: number;
}

export interface SetFlexorOptions {
  /** Backward mode of every FleXOR layer; default 'flexor'. */
  mode?: 'flexor' | 'ste' | 'analog';
  /** S_tanh, > 0; default 10. */
  sTanh?: number;
}

export interface ForwardOptions {
  /** Train mode: BN uses batch statistics and backward() becomes possible. Default false. */
  train?: boolean;
}

export interface BackwardOptions {
  /** Teacher logits (n, classes) for distillation; T and a are then required. */
  teacher?: Float32Array | ArrayLike<number> | null;
  /** Distillation temperature, > 0. */
  T?: number;
  /** Distillation weight in [0, 1]: loss = (1-a)*CE + a*T^2*KL. */
  a?: number;
}

export interface StepOptions {
  /** Default 'sgd'. */
  optimizer?: 'sgd' | 'adam';
  lr: number;
  /** SGD momentum; default 0. */
  momentum?: number;
  /** SGD Nesterov; default false. */
  nesterov?: boolean;
  /** Adam; defaults 0.9, 0.999, 1e-8. */
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 weight decay on every trainable parameter; default 0. */
  weightDecay?: number;
}

/**
 * A network (a DAG of layers in topological order; node 0 is the input) with one arena in the wasm heap and
 * its own error context. Builder methods return node ids; the last node added is the output. Needs init().
 */
export interface ZooOptions {
  /** Bit planes 1..4. Default 1. */
  q?: number;
  /** Default 20. */
  nOut?: number;
  /** Default 16 (0.8 bits/weight with nOut 20, q 1). */
  nIn?: number;
  /** Ones per row of M (0 = random fill). Default 2. */
  nTap?: number;
  /** Seeds the XOR networks (plane p uses (seed, p)) and the initialisation. Default 1. */
  seed?: Seed;
  /** Every layer full precision. Default false. */
  fp?: boolean;
  /** Default true: gradients and optimiser state, ready for a Trainer. */
  training?: boolean;
  /** FleXOR alpha at initialisation; <= 0 gives the Kaiming scale. Default 0 (LeNet-5), 0.2 (ResNet). */
  alphaInit?: number;
  /** Standard deviation of the initial latent values. Default 0.001. */
  latStd?: number;
}

export interface LeNet5Options extends ZooOptions {
  /** n_in of (conv1, conv2, fc1, fc2); 0 keeps that layer full precision. */
  nInPerLayer?: [number, number, number, number] | number[];
  /** Default 64. */
  maxBatch?: number;
}

export interface ResNetCifarOptions extends ZooOptions {
  /** 6n+2: 20 (default), 32, 44, 56, 110. */
  depth?: number;
  /** n_in of the three stages; 0 takes nIn. */
  nInPerStage?: [number, number, number] | number[];
  /** Default 128. */
  maxBatch?: number;
}

export interface LoadOptions {
  /** The largest batch the model will run. Default 1. */
  maxBatch?: number;
  /** Restore a checkpoint's latent values, optimiser state and step count to keep training. Default false. */
  training?: boolean;
}

export interface SaveOptions {
  /** 'inference' (default): packed sign bits, the deployable model; 'checkpoint': everything training needs. */
  kind?: 'inference' | 'checkpoint';
  /** Text (stored as UTF-8) or bytes kept in the file's extra block. Default ''. */
  metadata?: string | Uint8Array;
}

export interface EvaluateResult {
  correct: number;
  total: number;
  /** correct / total, a fraction in 0..1. */
  accuracy: number;
  /** The predicted class of every sample, when asked for. */
  preds?: Int32Array;
}

export declare class Model {
  private constructor();
  /** A model whose input is one sample [c, h, w] (dense-only: [features, 1, 1]). */
  static create(opts: { input: [number, number, number] }): Model;
  /** The paper's LeNet-5 for MNIST, built and initialised as `flexor train mnist` does. */
  static lenet5(opts?: LeNet5Options): Model;
  /** He et al.'s CIFAR ResNet-depth with FleXOR 3x3 convs, built and initialised as `flexor train cifar10` does. */
  static resnetCifar(opts?: ResNetCifarOptions): Model;
  /** Loads a model file (validated; FX_EFORMAT / FX_EVERSION on a bad file, naming the problem). */
  static load(bytes: Uint8Array | ArrayBuffer, opts?: LoadOptions): Model;

  conv(input: number, opts: ConvOptions): number;
  dense(input: number, opts: DenseOptions): number;
  bn(input: number): number;
  relu(input: number): number;
  /** Max pool, window k, stride s (default k), no padding. */
  maxpool(input: number, opts: { k: number; s?: number }): number;
  /** Global average pool: [c, h, w] -> [c, 1, 1]. */
  gap(input: number): number;
  /** Option-A shortcut: subsample by stride (default 1), zero-pad channels to cOut. */
  shortcut(input: number, opts: { cOut: number; stride?: number }): number;
  /** Element-wise a + b (same shapes). */
  add(a: number, b: number): number;

  /** Allocates the arena; no layer can be added afterwards. */
  build(opts: BuildOptions): this;
  initParams(opts?: InitParamsOptions): this;
  /** Starts from a model of the same graph: copies matching parameters, encrypts float weights into the FleXOR layers. */
  initFrom(src: Model, opts?: { mag?: number; seed?: number | bigint }): { copied: number; encrypted: number };
  setFlexor(opts?: SetFlexorOptions): this;

  /** Runs n samples x (n*c*h*w values, NCHW); returns a copy of the logits (n, classes). */
  forward(x: Float32Array | ArrayLike<number>, n: number, opts?: ForwardOptions): Float32Array;
  /** Loss of the last train-mode forward; computes every gradient. One backward per forward. */
  backward(labels: Int32Array | ArrayLike<number>, opts?: BackwardOptions): number;
  /** One optimiser step over every trainable parameter. */
  step(opts: StepOptions): this;

  nodes(): NodeInfo[];
  params(): ParamInfo[];
  /** A copy of a parameter's values. */
  getParam(name: string): Float32Array;
  /** A copy of a parameter's gradient from the last backward(). */
  getGrad(name: string): Float32Array;
  /** Overwrites a parameter (exact length, finite values); FleXOR weights are decoded again. */
  setParam(name: string, values: Float32Array | ArrayLike<number>): this;
  /** A copy of the float weights of a conv (cOut, cIn, k, k) or dense (out, in) node as the forward uses them. */
  weights(nodeId: number): Float32Array;
  /** The XOR masks of one bit plane (default 0) of a FleXOR node. */
  masks(nodeId: number, plane?: number): Uint32Array;
  /** A copy of a node's output from the last forward (n, c, h, w). */
  activation(nodeId: number): Float32Array;
  /** Bytes and blocks this model's context holds. */
  memoryUsage(): { bytes: number; blocks: number };

  /** Serialises the model into a new Uint8Array (docs/FORMAT.md). */
  save(opts?: SaveOptions): Uint8Array;
  /** The size of the file save() would write without metadata (it serialises to find out). */
  sizeBytes(opts?: { kind?: 'inference' | 'checkpoint' }): number;
  /** Eval-mode top-1 accuracy over a dataset (never augmented), in batches of maxBatch. */
  evaluate(dataset: Dataset, opts?: { preds?: boolean }): EvaluateResult;
  /** Softmax probabilities (n, classes) of n samples of normalised input, in chunks of maxBatch. */
  predict(x: Float32Array | ArrayLike<number>, n: number): Float32Array;

  /** Bits stored per weight over the FleXOR layers (sum q*n_slices*n_in / sum weights); 32 without any. */
  readonly bitsPerWeight: number;
  /** Weights in FleXOR layers. */
  readonly flexorWeights: number;
  /** Optimiser steps taken (restored from a checkpoint). */
  readonly steps: number;
  /** The metadata text of the file the model was loaded from ('' otherwise). */
  readonly metadata: string;

  readonly inputShape: [number, number, number];
  /** Values per output sample (0 before build). */
  readonly classes: number;
  /** 0 before build. */
  readonly maxBatch: number;
  readonly training: boolean;
  readonly disposed: boolean;

  /** Frees the model now; later use throws FlexorError 'FX_ESTATE'. A second call is harmless. */
  dispose(): void;
}

export interface DatasetOptions {
  /** Per-channel mean on pixels / 255 (1 or c values). */
  mean?: number[];
  /** Per-channel standard deviation (1 or c values, > 0). */
  std?: number[];
  /** Random crop (4-pixel zero padding) + horizontal flip in training batches. Default false. */
  augment?: boolean;
}

export interface ArraysDatasetOptions extends DatasetOptions {
  /** Samples; default labels.length. */
  n?: number;
  c: number;
  h: number;
  w: number;
}

/**
 * A labelled image set in the wasm heap (uint8 CHW pixels, uint8 labels) with its normalisation and
 * augmentation. A Trainer keeps its dataset by reference: dispose the trainer first. Needs init().
 */
export declare class Dataset {
  private constructor();
  /** IDX files (MNIST), parsed by the core; defaults mean [0.1307], std [0.3081]. FX_EFORMAT on a bad file. */
  static fromIdx(imagesBytes: Uint8Array | ArrayBuffer, labelsBytes: Uint8Array | ArrayBuffer, opts?: DatasetOptions): Dataset;
  /** CIFAR-10 binary batches, concatenated; defaults mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]. */
  static fromCifar(batches: Array<Uint8Array | ArrayBuffer> | Uint8Array | ArrayBuffer, opts?: DatasetOptions): Dataset;
  /** Raw pixel bytes (n*c*h*w, CHW per image) and labels; defaults mean [0], std [1]. */
  static fromArrays(images: Uint8Array | ArrayLike<number>, labels: Uint8Array | ArrayLike<number>,
    opts: ArraysDatasetOptions): Dataset;
  /** A copy of the first n samples (same normalisation and augmentation). */
  subset(n: number): Dataset;
  /** Normalised inputs (count, c, h, w) and labels of samples start.., never augmented. */
  batch(start: number, count: number): { x: Float32Array; labels: Int32Array };
  /** A copy of the labels. */
  labels(): Uint8Array;
  readonly length: number;
  /** One sample's shape [c, h, w]. */
  readonly shape: [number, number, number];
  readonly normalization: { mean: number[]; std: number[] };
  readonly augment: boolean;
  readonly disposed: boolean;
  /** Frees the dataset now; a second call is harmless. */
  dispose(): void;
}

export interface TrainerOptions {
  /** An inference model with the same input and classes (maxBatch >= batch): distillation. */
  teacher?: Model | null;
  /** Default 'cosine'. */
  schedule?: 'const' | 'step' | 'cosine';
  /** Base learning rate, >= 0. Required. */
  lr: number;
  /** Epochs of linear LR warmup (S_tanh ramps from sTanh0 to sTanh over it). Default 0. */
  warmup?: number;
  /** The run's length in epochs (> 0, may be fractional). Required. */
  epochs: number;
  /** 'step' schedule: lr *= gamma at each milestone. Default 0.5. */
  gamma?: number;
  /** 'step' schedule milestones in epochs (at most 8). Default []. */
  milestones?: number[];
  /** S_tanh, > 0. Default 10. */
  sTanh?: number;
  /** S_tanh at the start of the warmup. Default sTanh. */
  sTanh0?: number;
  /** Default 'sgd'. */
  optimizer?: 'sgd' | 'adam';
  /** SGD momentum. Default 0.9. */
  momentum?: number;
  /** Default false. */
  nesterov?: boolean;
  /** Adam; defaults 0.9, 0.999, 1e-8. */
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Default 0. */
  weightDecay?: number;
  /** FleXOR backward mode. Default 'flexor'. */
  mode?: 'flexor' | 'ste' | 'analog';
  /** 2..model.maxBatch; default model.maxBatch. */
  batch?: number;
  /** Epoch permutations and augmentation. Default 1. */
  seed?: Seed;
  /** Distillation temperature. Default 4. */
  T?: number;
  /** Distillation weight. Default 0.9. */
  kd?: number;
}

export interface TrainStats {
  /** Epochs completed after the call. */
  epoch: number;
  /** The next step within the current epoch. */
  step: number;
  stepsPerEpoch: number;
  /** The call finished an epoch. */
  epochDone: boolean;
  /** Every epoch of the schedule is done. */
  runDone: boolean;
  /** Mean training loss over the samples of this call (0 when none). */
  loss: number;
  /** Its sum over the samples. */
  lossSum: number;
  /** Samples seen in this call. */
  seen: number;
  /** Right top-1 predictions (train mode) in this call. */
  correct: number;
  /** LR and S_tanh at the last step. */
  lr: number;
  sTanh: number;
}

/**
 * The core's deterministic training loop (fx_trainer). The model, dataset and teacher are used by reference
 * and must outlive the trainer; run() and seek() throw FX_ESTATE if one was disposed. Needs init().
 */
export declare class Trainer {
  constructor(model: Model, dataset: Dataset, opts: TrainerOptions);
  /** Up to maxSteps optimiser steps (default: to the end of the epoch), stopping at an epoch's end. */
  run(maxSteps?: number): TrainStats;
  /** Moves to (epoch, step), e.g. after Model.load(checkpoint, {training: true}). */
  seek(epoch: number, step: number): this;
  readonly epoch: number;
  readonly step: number;
  readonly stepsPerEpoch: number;
  readonly batch: number;
  readonly epochs: number;
  /** Every epoch of the schedule is done. */
  readonly done: boolean;
  readonly model: Model;
  readonly dataset: Dataset;
  readonly disposed: boolean;
  /** Frees the trainer (not the model or dataset); a second call is harmless. */
  dispose(): void;
}

// ---------------------------------------------------------------------------------------------------------
// The package's task-level layer (wasm/api.js, the entry point of `import ... from 'flexor-wasm'`; it
// re-exports everything above). See docs/API.md.
// ---------------------------------------------------------------------------------------------------------

/** The CIFAR-10 class names, in label order. */
export declare const CIFAR10_CLASSES: readonly ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog',
  'horse', 'ship', 'truck'];

/** Per-channel mean and standard deviation on pixels / 255 (1 or c values). */
export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

/** The normalisations the zoo models are trained with. */
export declare const NORMALIZATION: {
  /** MNIST, 1 channel: mean [0.1307], std [0.3081]. */
  readonly mnist: Normalization;
  /** ImageNet statistics, 3 channels (CIFAR-10 models): mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]. */
  readonly imagenet: Normalization;
};

/** Where loadModel() gets a model file. */
export type ModelSource =
  | Uint8Array | ArrayBuffer | ArrayBufferView
  /** Fetched; in Node a file: URL is read from disk. */
  | URL
  /** An absolute URL; in a browser also a URL relative to the page; in Node otherwise a file path. */
  | string
  | Response
  | Blob;

export interface LoadModelOptions extends LoadOptions {
  /** Aborts the fetch of a URL. */
  signal?: AbortSignal;
}

/**
 * Loads a model file (Model#save, `flexor train --out`), calling init() first when needed (the .wasm next to
 * flexor.js; call init({wasmUrl}) before to override). I/O failures reject with an Error; a bad file with a
 * FlexorError (FX_EFORMAT / FX_EVERSION).
 */
export declare function loadModel(source: ModelSource | PromiseLike<ModelSource>, opts?: LoadModelOptions): Promise<Model>;

/** An ImageData (from a canvas, createImageBitmap, ...) or anything shaped like one: row-major pixels with 4 (RGBA),
 *  3 (RGB) or 1 (gray) bytes each. */
export interface ImageLike {
  readonly data: Uint8ClampedArray | Uint8Array | ArrayLike<number>;
  readonly width: number;
  readonly height: number;
}

/**
 * One image for classify()/preprocess():
 *  - ImageData / ImageLike: composited over black, converted to the model's channels, resized by area averaging,
 *    for 1-channel models inverted when the border is bright and centred like MNIST, then normalised;
 *  - Float32Array of exactly c*h*w values: already the normalised network input (CHW);
 *  - Uint8Array / Uint8ClampedArray / number[] of exactly c*h*w CHW pixel bytes (an MNIST image, a CIFAR-10
 *    record without its label byte): only normalised.
 */
export type ImageInput = ImageLike | Float32Array | Uint8Array | Uint8ClampedArray | number[];

export interface PreprocessOptions {
  /** Default: MNIST's for 1-channel models, ImageNet's for 3-channel ones; false: pixels / 255. */
  normalize?: Normalization | { mean: number[]; std: number[] } | false;
  /** Images only: invert (255 - v) before use. Default 'auto' (when the border is bright) for 1-channel models,
   *  false otherwise. */
  invert?: boolean | 'auto';
  /** Images only, 1-channel models: crop to the digit, fit it in a 20/28 box and centre it by mass as MNIST.
   *  Default true. */
  center?: boolean;
}

export interface ClassifyOptions extends PreprocessOptions {
  /** How many classes to return in top, default 5 (at most the number of classes). */
  topK?: number;
  /** Class names. Default: CIFAR-10's for 3x32x32 10-class models, '0'..'9' for 1-channel 10-class models,
   *  else the index as text. */
  labels?: readonly string[];
}

export interface ClassScore {
  index: number;
  label: string;
  probability: number;
}

export interface Classification extends ClassScore {
  /** The topK classes by falling probability (ties: lower index first); top[0] is this object's class. */
  top: ClassScore[];
  /** Softmax over every class. */
  probabilities: Float32Array;
}

/** The normalised network input (c*h*w values, CHW) classify() would feed the model. */
export declare function preprocess(model: Model, image: ImageInput, opts?: PreprocessOptions): Float32Array;

/** Classifies one image with a built model. */
export declare function classify(model: Model, image: ImageInput, opts?: ClassifyOptions): Classification;

export interface TrainProgress {
  /** Fractional epochs done. */
  epoch: number;
  epochsCompleted: number;
  /** The next step within the current epoch. */
  step: number;
  stepsPerEpoch: number;
  /** Steps taken by this train() call so far. */
  steps: number;
  /** Steps this train() call will take (to the end of the schedule, or maxSteps). */
  totalSteps: number;
  /** Mean training loss over the last chunk. */
  loss: number;
  /** Train-mode top-1 accuracy over the last chunk (0..1). */
  accuracy: number;
  lr: number;
  sTanh: number;
  /** The chunk finished an epoch. */
  epochDone: boolean;
  /** The schedule is complete. */
  done: boolean;
  elapsedMs: number;
  /** Test accuracy (0..1) after an epoch, when testSet was given. */
  testAccuracy?: number;
}

export interface TrainOptions extends Partial<TrainerOptions> {
  /** Called after every chunk; a returned promise is awaited. */
  onProgress?: (progress: TrainProgress) => void | Promise<void>;
  /** Stops at the next chunk boundary; train() then rejects with signal.reason. */
  signal?: AbortSignal;
  /** Optimiser steps per chunk. Default 8. */
  chunkSteps?: number;
  /** Stop after this many steps. */
  maxSteps?: number;
  /** Evaluated at the end of every epoch (TrainProgress.testAccuracy). */
  testSet?: Dataset;
  /** Continue from this position (after Model.load(checkpoint, {training: true})). */
  start?: { epoch: number; step: number };
}

export interface TrainResult {
  steps: number;
  /** Fractional epochs done. */
  epoch: number;
  /** Loss and accuracy of the last chunk. */
  loss: number;
  accuracy: number;
  /** The schedule is complete. */
  done: boolean;
  testAccuracy?: number;
}

/**
 * Trains with the core's loop (a Trainer; here lr defaults to 1e-3, optimizer to 'adam', epochs to 1) a chunk
 * at a time, yielding to the event loop between chunks. The model keeps what it learned up to the last step.
 */
export declare function train(model: Model, dataset: Dataset, opts?: TrainOptions): Promise<TrainResult>;

export interface BitPlane {
  plane: number;
  /** masks[r] bit i = M[r][i] (nOut words). */
  masks: Uint32Array;
  /** Latent values x (nSlices x nIn); +-1 for a model loaded from an inference file. */
  latent: Float32Array;
  /** Packed encrypted bits per slice: bit i of encrypted[j] = latent[j*nIn + i] >= 0. */
  encrypted: Uint32Array;
  /** Decrypted bits per slice: bit r of decrypted[j] = parity(encrypted[j] & masks[r]). */
  decrypted: Uint32Array;
  /** One scale per output channel. */
  alpha: Float32Array;
  /** The +-1 decision of every weight, OIHW (conv [cOut][cIn][k][k], dense [out][in]). */
  signs: Int8Array;
}

export interface BitDecisions {
  node: number;
  kind: 'conv' | 'dense';
  q: number;
  nOut: number;
  nIn: number;
  nTap: number;
  seed: Seed | null;
  cOut: number;
  /** Input channels (dense: the fan-in). */
  cIn: number;
  /** Kernel size (dense: 1). */
  k: number;
  fanIn: number;
  /** cOut * fanIn. */
  weights: number;
  /** ceil(weights / nOut). */
  nSlices: number;
  /** q * nSlices * nIn / weights. */
  bitsPerWeight: number;
  /** One per bit plane; weights = sum_p alpha[p][co] * signs_p. */
  planes: BitPlane[];
}

/** The bit decisions of one FleXOR conv or dense node (FX_EINVAL naming the FleXOR nodes otherwise). */
export declare function bitDecisions(model: Model, nodeId: number): BitDecisions;
