// ResNets as torchvision writes them (models/resnet.py): the same blocks, the same construction
// order (so manualSeed gives torchvision's initial weights) and the same state-dict keys, so
// torchvision's checkpoints load as they are. Plus He et al. 2016's CIFAR ResNets for small images.
import type { Tensor } from '../engine/index.js';
import type { Classifier } from './classifier.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, Module, ReLU, Sequential, init } from '../nn/index.js';

/** 3×3 convolution with padding, no bias. */
function conv3x3(inPlanes: number, outPlanes: number, stride = 1, groups = 1, dilation = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 3, { stride, padding: dilation, groups, bias: false, dilation });
}
/** 1×1 convolution, no bias. */
function conv1x1(inPlanes: number, outPlanes: number, stride = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false });
}

/** torchvision's norm_layer: the normalisation after each convolution (BatchNorm2d, or SyncBatchNorm for data-parallel runs). */
export type NormLayer = (numFeatures: number) => BatchNorm2d;
const batchNorm: NormLayer = (n) => new BatchNorm2d(n);

interface BlockOptions {
  normLayer: NormLayer;
  stride: number;
  downsample: Sequential | null;
  groups: number;
  baseWidth: number;
  dilation: number;
}

export class BasicBlock extends Module {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inPlanes: number, planes: number, o: BlockOptions) {
    super();
    if (o.groups !== 1 || o.baseWidth !== 64) throw new Error('BasicBlock only supports groups=1 and baseWidth=64');
    if (o.dilation > 1) throw new Error('Dilation > 1 not supported in BasicBlock');
    this.conv1 = this.registerModule('conv1', conv3x3(inPlanes, planes, o.stride));
    this.bn1 = this.registerModule('bn1', o.normLayer(planes));
    this.relu = this.registerModule('relu', new ReLU(true));
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes));
    this.bn2 = this.registerModule('bn2', o.normLayer(planes));
    this.downsample = this.registerModule('downsample', o.downsample);
  }

  forward(x: Tensor): Tensor {
    let out = this.relu.forward(this.bn1.forward(this.conv1.forward(x)));
    out = this.bn2.forward(this.conv2.forward(out));
    const identity = this.downsample ? this.downsample.forward(x) : x;
    return this.relu.forward(out.add_(identity));
  }
}

/** The bottleneck of ResNet V1.5: the stride is on the 3×3 convolution, as in torchvision. */
export class Bottleneck extends Module {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly relu: ReLU;
  readonly downsample: Sequential | null;

  constructor(inPlanes: number, planes: number, o: BlockOptions) {
    super();
    const width = Math.floor(planes * (o.baseWidth / 64)) * o.groups;
    this.conv1 = this.registerModule('conv1', conv1x1(inPlanes, width));
    this.bn1 = this.registerModule('bn1', o.normLayer(width));
    this.conv2 = this.registerModule('conv2', conv3x3(width, width, o.stride, o.groups, o.dilation));
    this.bn2 = this.registerModule('bn2', o.normLayer(width));
    this.conv3 = this.registerModule('conv3', conv1x1(width, planes * Bottleneck.expansion));
    this.bn3 = this.registerModule('bn3', o.normLayer(planes * Bottleneck.expansion));
    this.relu = this.registerModule('relu', new ReLU(true));
    this.downsample = this.registerModule('downsample', o.downsample);
  }

  forward(x: Tensor): Tensor {
    let out = this.relu.forward(this.bn1.forward(this.conv1.forward(x)));
    out = this.relu.forward(this.bn2.forward(this.conv2.forward(out)));
    out = this.bn3.forward(this.conv3.forward(out));
    const identity = this.downsample ? this.downsample.forward(x) : x;
    return this.relu.forward(out.add_(identity));
  }
}

type Block = typeof BasicBlock | typeof Bottleneck;

export interface ResNetOptions {
  numClasses?: number;
  /** Zero the last BatchNorm of each block, so that each residual branch starts as identity. */
  zeroInitResidual?: boolean;
  groups?: number;
  widthPerGroup?: number;
  /** Channel widths of the stem and the four stages; torchvision's are [64, 128, 256, 512]. */
  widths?: [number, number, number, number];
  /** The normalisation layer (torchvision's norm_layer); BatchNorm2d by default. */
  normLayer?: NormLayer;
}

export class ResNet extends Module implements Classifier {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  fc: Linear;
  #inPlanes: number;
  readonly #groups: number;
  readonly #baseWidth: number;
  readonly #norm: NormLayer;

  constructor(block: Block, layers: [number, number, number, number], o: ResNetOptions = {}) {
    super();
    this.#norm = o.normLayer ?? batchNorm;
    const widths = o.widths ?? [64, 128, 256, 512];
    this.#inPlanes = widths[0];
    this.#groups = o.groups ?? 1;
    this.#baseWidth = o.widthPerGroup ?? 64;
    this.conv1 = this.registerModule('conv1', new Conv2d(3, this.#inPlanes, 7, { stride: 2, padding: 3, bias: false }));
    this.bn1 = this.registerModule('bn1', this.#norm(this.#inPlanes));
    this.relu = this.registerModule('relu', new ReLU(true));
    this.maxpool = this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    this.layer1 = this.registerModule('layer1', this.#makeLayer(block, widths[0], layers[0]));
    this.layer2 = this.registerModule('layer2', this.#makeLayer(block, widths[1], layers[1], 2));
    this.layer3 = this.registerModule('layer3', this.#makeLayer(block, widths[2], layers[2], 2));
    this.layer4 = this.registerModule('layer4', this.#makeLayer(block, widths[3], layers[3], 2));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.fc = this.registerModule('fc', new Linear(widths[3] * block.expansion, o.numClasses ?? 1000));
    initialiseResNet(this, o.zeroInitResidual ?? false);
  }

  #makeLayer(block: Block, planes: number, blocks: number, stride = 1): Sequential {
    let downsample: Sequential | null = null;
    if (stride !== 1 || this.#inPlanes !== planes * block.expansion)
      downsample = new Sequential(conv1x1(this.#inPlanes, planes * block.expansion, stride), this.#norm(planes * block.expansion));
    const o = { groups: this.#groups, baseWidth: this.#baseWidth, dilation: 1, normLayer: this.#norm };
    const layers: Module[] = [new block(this.#inPlanes, planes, { ...o, stride, downsample })];
    this.#inPlanes = planes * block.expansion;
    for (let i = 1; i < blocks; i++) layers.push(new block(this.#inPlanes, planes, { ...o, stride: 1, downsample: null }));
    return new Sequential(...layers);
  }

  /** The penultimate representation: the pooled, flattened input of the classifier. */
  features(x: Tensor): Tensor {
    let h = this.maxpool.forward(this.relu.forward(this.bn1.forward(this.conv1.forward(x))));
    h = this.layer4.forward(this.layer3.forward(this.layer2.forward(this.layer1.forward(h))));
    return this.avgpool.forward(h).flatten(1);
  }

  forward(x: Tensor): Tensor {
    return this.fc.forward(this.features(x));
  }

  /** A new classifier head for `numClasses` (fine-tuning), initialised as PyTorch's Linear. */
  resetClassifier(numClasses: number): Linear {
    return this.replaceModule('fc', new Linear(this.fc.inFeatures, numClasses));
  }
}

/** torchvision's initialisation: Kaiming-normal (fan_out, relu) convolutions, BatchNorm 1 and 0. */
function initialiseResNet(model: Module, zeroInitResidual: boolean): void {
  for (const m of model.modules()) {
    if (m instanceof Conv2d) init.kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
    else if (m instanceof BatchNorm2d && m.weight && m.bias) {
      init.constant_(m.weight, 1);
      init.constant_(m.bias, 0);
    }
  }
  if (zeroInitResidual)
    for (const m of model.modules()) {
      if (m instanceof Bottleneck && m.bn3.weight) init.constant_(m.bn3.weight, 0);
      else if (m instanceof BasicBlock && m.bn2.weight) init.constant_(m.bn2.weight, 0);
    }
}

export interface CifarResNetOptions {
  numClasses?: number;
  inChannels?: number;
  /** The normalisation layer (torchvision's norm_layer); BatchNorm2d by default. */
  normLayer?: NormLayer;
}

/**
 * He et al. 2016's CIFAR ResNets (resnet20/32/56/110) for 28–64 px images: a 3×3 stem with 16
 * channels, three stages of n basic blocks at 16, 32, 64 channels, global pooling, a linear head.
 * Shortcuts that change shape are 1×1 convolutions with BatchNorm (the paper's option B).
 */
export class CifarResNet extends Module implements Classifier {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  fc: Linear;

  constructor(depth: number, o: CifarResNetOptions = {}) {
    super();
    const norm = o.normLayer ?? batchNorm;
    if ((depth - 2) % 6 !== 0 || depth < 8) throw new Error(`CifarResNet: depth must be 6n + 2 (20, 32, 44, 56, 110), got ${depth}`);
    const n = (depth - 2) / 6;
    let inPlanes = 16;
    const stage = (planes: number, stride: number) => {
      const blocks: Module[] = [];
      for (let i = 0; i < n; i++) {
        const s = i === 0 ? stride : 1;
        const downsample = s !== 1 || inPlanes !== planes ? new Sequential(conv1x1(inPlanes, planes, s), norm(planes)) : null;
        blocks.push(new BasicBlock(inPlanes, planes, { stride: s, downsample, groups: 1, baseWidth: 64, dilation: 1, normLayer: norm }));
        inPlanes = planes;
      }
      return new Sequential(...blocks);
    };
    this.conv1 = this.registerModule('conv1', conv3x3(o.inChannels ?? 3, 16));
    this.bn1 = this.registerModule('bn1', norm(16));
    this.relu = this.registerModule('relu', new ReLU(true));
    this.layer1 = this.registerModule('layer1', stage(16, 1));
    this.layer2 = this.registerModule('layer2', stage(32, 2));
    this.layer3 = this.registerModule('layer3', stage(64, 2));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.fc = this.registerModule('fc', new Linear(64, o.numClasses ?? 10));
    initialiseResNet(this, false);
  }

  features(x: Tensor): Tensor {
    const h = this.relu.forward(this.bn1.forward(this.conv1.forward(x)));
    return this.avgpool.forward(this.layer3.forward(this.layer2.forward(this.layer1.forward(h)))).flatten(1);
  }

  forward(x: Tensor): Tensor {
    return this.fc.forward(this.features(x));
  }

  resetClassifier(numClasses: number): Linear {
    return this.replaceModule('fc', new Linear(this.fc.inFeatures, numClasses));
  }
}

type Options = Omit<ResNetOptions, 'groups' | 'widthPerGroup'>;
export const resnet18 = (o: Options = {}) => new ResNet(BasicBlock, [2, 2, 2, 2], o);
export const resnet34 = (o: Options = {}) => new ResNet(BasicBlock, [3, 4, 6, 3], o);
export const resnet50 = (o: Options = {}) => new ResNet(Bottleneck, [3, 4, 6, 3], o);
export const resnet101 = (o: Options = {}) => new ResNet(Bottleneck, [3, 4, 23, 3], o);
export const resnet152 = (o: Options = {}) => new ResNet(Bottleneck, [3, 8, 36, 3], o);
export const resnext50_32x4d = (o: Options = {}) => new ResNet(Bottleneck, [3, 4, 6, 3], { ...o, groups: 32, widthPerGroup: 4 });
export const wide_resnet50_2 = (o: Options = {}) => new ResNet(Bottleneck, [3, 4, 6, 3], { ...o, widthPerGroup: 128 });
export const wide_resnet101_2 = (o: Options = {}) => new ResNet(Bottleneck, [3, 4, 23, 3], { ...o, widthPerGroup: 128 });
export const resnet20 = (o: CifarResNetOptions = {}) => new CifarResNet(20, o);
export const resnet32 = (o: CifarResNetOptions = {}) => new CifarResNet(32, o);
export const resnet56 = (o: CifarResNetOptions = {}) => new CifarResNet(56, o);
