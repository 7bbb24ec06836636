// Images as pixels: the one RawImage type (the addon's, which decodes and resamples them) and the
// codecs, libjpeg-turbo for JPEG and sharp/libvips for every other format. Transforms and the
// augmentations both build on this module, and neither on the other's types.
import { readFileSync } from 'node:fs';
import sharp, { type Sharp } from 'sharp';
import { type NativeImage, native } from '../engine/native.js';
import type { ImageSource } from './sources.js';

/** Pixels, height × width × channels, uint8: what the addon decodes, resamples and encodes. */
export type RawImage = NativeImage;

/** Decodes a file (JPEG natively, any other format libvips reads) or wraps raw pixels. Truncated or corrupt files throw. */
export async function decode(source: ImageSource): Promise<RawImage> {
  if (source.kind === 'raw') return { data: source.pixels, width: source.width, height: source.height, channels: source.channels };
  const bytes = readFileSync(source.path);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    try {
      return native.decode_jpeg(bytes);
    } catch (e) {
      // libjpeg-turbo cannot convert every JPEG (CMYK, YCCK) to RGB; libvips can, as PIL can.
      try {
        return await viaSharp(bytes);
      } catch {
        throw e;
      }
    }
  }
  return viaSharp(bytes);
}

/**
 * Encodes pixels (RGB or grey) as a baseline JPEG with libjpeg-turbo, 4:2:0 chroma subsampling
 * for colour (PIL's default), at `quality` in 1..100 (PIL's default 75). Synchronous and free of
 * tensors: worker threads can write datasets with it.
 */
export function encodeJpeg(img: RawImage, quality = 75): Buffer {
  return native.encode_jpeg(img.data, img.width, img.height, img.channels, quality);
}

async function viaSharp(bytes: Buffer): Promise<RawImage> {
  // 8-bit sRGB or grey, no alpha, whatever the file holds (palette, 16-bit, CMYK, grey+alpha).
  const image = sharp(bytes, { failOn: 'warning' });
  const meta = await image.metadata();
  const grey = meta.space === 'b-w' || meta.space === 'grey16';
  return toRaw(image.removeAlpha().toColourspace(grey ? 'b-w' : 'srgb'));
}

/** A sharp pipeline's output as 8-bit pixels. */
export async function toRaw(image: Sharp): Promise<RawImage> {
  const { data, info } = await image.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
}

/**
 * A small PNG of `img` for a report: an image no larger than `size` is enlarged by the largest
 * whole factor that fits, nearest-neighbour (Fashion-MNIST's 28² becomes 56², its pixels sharp);
 * a larger one is shrunk to fit within `size` × `size` (Lanczos), its aspect kept.
 */
export async function thumbnailPng(img: RawImage, size = 64): Promise<{ png: Buffer; width: number; height: number }> {
  const side = Math.max(img.width, img.height);
  const factor = side <= size ? Math.max(1, Math.floor(size / side)) : size / side;
  const width = Math.max(1, Math.round(img.width * factor));
  const height = Math.max(1, Math.round(img.height * factor));
  const png = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 2 | 3 | 4 } })
    .resize(width, height, { fit: 'fill', kernel: side <= size ? 'nearest' : 'lanczos3' })
    // A grey image stays a grey PNG (a third of an RGB one's bytes).
    .toColourspace(img.channels <= 2 ? 'b-w' : 'srgb')
    .png({ compressionLevel: 9 })
    .toBuffer();
  return { png, width, height };
}
