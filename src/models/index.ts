// The models layer: torchvision-compatible ResNets and CIFAR ResNets. Imports engine and nn.
export * from './resnet.js';
export type { Classifier } from './classifier.js';
