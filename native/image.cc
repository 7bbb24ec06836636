// Image kernels for the data loader, safe to call from worker threads (they touch no tensor
// handle): JPEG decoding and encoding with libjpeg-turbo, and one resampling pass that crops,
// resizes with PIL's antialiased bilinear filter and mirrors. libvips (sharp) reads every other
// format; for small JPEGs its per-image setup costs three times the decode itself.
#include <sys/resource.h>
#include <sys/syscall.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common.h"

namespace {

struct TjHandle {
  tjhandle h;
  explicit TjHandle(bool compress = false) : h(compress ? tjInitCompress() : tjInitDecompress()) {}
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
  TjHandle(const TjHandle&) = delete;
  TjHandle& operator=(const TjHandle&) = delete;
};

// Rows of weights for one axis: output i reads input [first[i], first[i] + count[i]).
struct Taps {
  std::vector<int> first, count;
  std::vector<float> weights;  // count-major, `support` entries per output
  int stride = 0;
};

// PIL's ImagingResample with the bilinear (triangle) filter: the filter is stretched by the
// scale when shrinking, so that every input pixel contributes (antialiasing).
Taps taps(double start, double span, int in, int out) {
  Taps t;
  double scale = span / out;
  double filterScale = std::max(scale, 1.0);
  double support = filterScale;  // triangle support 1, stretched
  t.stride = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out);
  t.count.resize(out);
  t.weights.assign(static_cast<size_t>(out) * t.stride, 0.f);
  for (int i = 0; i < out; i++) {
    double center = start + (i + 0.5) * scale;
    int lo = std::max(0, static_cast<int>(std::floor(center - support)));
    int hi = std::min(in, static_cast<int>(std::ceil(center + support)));
    double total = 0;
    int n = 0;
    for (int x = lo; x < hi && n < t.stride; x++, n++) {
      double w = std::max(0.0, 1.0 - std::abs((x + 0.5 - center) / filterScale));
      t.weights[static_cast<size_t>(i) * t.stride + n] = static_cast<float>(w);
      total += w;
    }
    if (total > 0)
      for (int k = 0; k < n; k++) t.weights[static_cast<size_t>(i) * t.stride + k] /= static_cast<float>(total);
    t.first[i] = lo;
    t.count[i] = n;
  }
  return t;
}

// Two separable passes: each needed input row filtered horizontally (once), then each output row
// a weighted sum of those rows (a contiguous loop the compiler vectorizes).
template <int C>
void resampleRows(const uint8_t* in, int pw, const Taps& tx, const Taps& ty, int ow, int oh, bool hflip, bool vflip,
                  uint8_t* out) {
  int rowLo = ty.first[0], rowHi = 0;
  for (int i = 0; i < oh; i++) rowLo = std::min(rowLo, ty.first[i]), rowHi = std::max(rowHi, ty.first[i] + ty.count[i]);
  const size_t rowLen = static_cast<size_t>(ow) * C;
  std::vector<float> mid(static_cast<size_t>(rowHi - rowLo) * rowLen);
  for (int y = rowLo; y < rowHi; y++) {
    const uint8_t* row = in + static_cast<size_t>(y) * pw * C;
    float* m = &mid[static_cast<size_t>(y - rowLo) * rowLen];
    for (int x = 0; x < ow; x++) {
      const float* wt = &tx.weights[static_cast<size_t>(x) * tx.stride];
      const uint8_t* p = row + static_cast<size_t>(tx.first[x]) * C;
      float s[C] = {};
      for (int t = 0; t < tx.count[x]; t++)
        for (int k = 0; k < C; k++) s[k] += wt[t] * p[t * C + k];
      int ox = hflip ? ow - 1 - x : x;
      for (int k = 0; k < C; k++) m[ox * C + k] = s[k];
    }
  }
  std::vector<float> acc(rowLen);
  for (int y = 0; y < oh; y++) {
    std::fill(acc.begin(), acc.end(), 0.f);
    const float* wt = &ty.weights[static_cast<size_t>(y) * ty.stride];
    for (int t = 0; t < ty.count[y]; t++) {
      const float* m = &mid[static_cast<size_t>(ty.first[y] + t - rowLo) * rowLen];
      const float w = wt[t];
      for (size_t i = 0; i < rowLen; i++) acc[i] += w * m[i];
    }
    uint8_t* o = out + static_cast<size_t>(vflip ? oh - 1 - y : y) * rowLen;
    for (size_t i = 0; i < rowLen; i++) o[i] = static_cast<uint8_t>(std::min(255.f, std::max(0.f, acc[i])) + 0.5f);
  }
}

Napi::Object imageObject(Napi::Env env, Napi::Uint8Array data, int width, int height, int channels) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", data);
  o.Set("width", width);
  o.Set("height", height);
  o.Set("channels", channels);
  return o;
}

Napi::Uint8Array bytesArg(lsr::Args& a, size_t i) {
  if (a.size() <= i || !a.info[i].IsTypedArray() || a.info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    a.fail(i, "must be a Uint8Array");
  return a.info[i].As<Napi::Uint8Array>();
}

}  // namespace

// decode_jpeg(bytes) -> {data, width, height, channels}: RGB, or grey for a greyscale JPEG.
// set_thread_nice(n): the calling thread's scheduling niceness (Linux: per thread). A loader
// worker lowers its own, so that when it and the compute threads want the same cores, the
// compute threads (whose parallel regions wait for their slowest thread) go first.
OP(set_thread_nice) {
  int64_t n = a.integer(0);
  if (n < -20 || n > 19) a.fail(0, "must be a niceness in -20..19");
  pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), static_cast<int>(n)) != 0)
    throw std::runtime_error(std::string("setpriority: ") + std::strerror(errno));
  return a.env().Undefined();
} END

OP(decode_jpeg) {
  Napi::Uint8Array bytes = bytesArg(a, 0);
  TjHandle tj;
  if (!tj.h) throw std::runtime_error("cannot start libjpeg-turbo");
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.h, bytes.Data(), bytes.ByteLength(), &width, &height, &subsampling, &colorspace) != 0)
    throw std::runtime_error(std::string("not a readable JPEG: ") + tjGetErrorStr2(tj.h));
  if (width <= 0 || height <= 0 || static_cast<int64_t>(width) * height > (int64_t(1) << 28))
    throw std::runtime_error("JPEG of " + std::to_string(width) + "×" + std::to_string(height) + " pixels is out of range");
  bool grey = colorspace == TJCS_GRAY;
  int channels = grey ? 1 : 3;
  auto out = Napi::Uint8Array::New(a.env(), static_cast<size_t>(width) * height * channels);
  // TJFLAG_STOPONWARNING: a truncated or corrupt file is an error, not a grey half image.
  if (tjDecompress2(tj.h, bytes.Data(), bytes.ByteLength(), out.Data(), width, 0, height, grey ? TJPF_GRAY : TJPF_RGB,
                    TJFLAG_STOPONWARNING) != 0)
    throw std::runtime_error(std::string("corrupt or truncated JPEG: ") + tjGetErrorStr2(tj.h));
  return imageObject(a.env(), out, width, height, channels);
}
END

// encode_jpeg(data, width, height, channels, quality) -> Buffer: HWC pixels (RGB or grey) as a
// baseline JPEG, 4:2:0 chroma subsampling for colour (PIL's default, what datasets hold).
OP(encode_jpeg) {
  Napi::Uint8Array src = bytesArg(a, 0);
  int64_t w = a.integer(1), h = a.integer(2), c = a.integer(3), quality = a.integer(4);
  if (w <= 0 || h <= 0 || w > 65535 || h > 65535) a.fail(1, "width and height must be in 1..65535");
  if (c != 1 && c != 3) a.fail(3, "must be 1 (grey) or 3 (RGB) channels");
  if (static_cast<size_t>(w) * h * c != src.ByteLength())
    a.fail(0, "holds " + std::to_string(src.ByteLength()) + " bytes, not width × height × channels = " + std::to_string(w * h * c));
  if (quality < 1 || quality > 100) a.fail(4, "must be a quality in 1..100");
  TjHandle tj(true);
  if (!tj.h) throw std::runtime_error("cannot start libjpeg-turbo");
  unsigned char* jpeg = nullptr;  // allocated by libjpeg-turbo, freed with tjFree
  unsigned long size = 0;
  int rc = tjCompress2(tj.h, src.Data(), static_cast<int>(w), 0, static_cast<int>(h), c == 1 ? TJPF_GRAY : TJPF_RGB, &jpeg, &size,
                       c == 1 ? TJSAMP_GRAY : TJSAMP_420, static_cast<int>(quality), 0);
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(jpeg, tjFree);
  if (rc != 0) throw std::runtime_error(std::string("JPEG encoding failed: ") + tjGetErrorStr2(tj.h));
  return Napi::Buffer<uint8_t>::Copy(a.env(), jpeg, size);
}
END

// resample(data, width, height, channels, [left, top, cropWidth, cropHeight], outWidth, outHeight,
//          hflip, vflip) -> {data, ...}: the crop (which may reach outside: zeros there) resized
// with an antialiased bilinear filter, then mirrored. One pass over the output.
OP(resample) {
  Napi::Uint8Array src = bytesArg(a, 0);
  int w = static_cast<int>(a.integer(1)), h = static_cast<int>(a.integer(2)), c = static_cast<int>(a.integer(3));
  std::vector<int64_t> box = a.ints(4);
  int ow = static_cast<int>(a.integer(5)), oh = static_cast<int>(a.integer(6));
  bool hflip = a.boolean(7), vflip = a.boolean(8);
  if (w <= 0 || h <= 0 || c <= 0 || static_cast<size_t>(w) * h * c != src.ByteLength())
    a.fail(0, "does not hold width × height × channels bytes");
  if (box.size() != 4 || box[2] <= 0 || box[3] <= 0) a.fail(4, "must be [left, top, width, height] with a positive size");
  if (ow <= 0 || oh <= 0 || static_cast<int64_t>(ow) * oh > (int64_t(1) << 28)) a.fail(5, "output size is out of range");
  // Pad the source with zeros where the box reaches outside, so that taps stay in bounds.
  int left = static_cast<int>(box[0]), top = static_cast<int>(box[1]);
  int bw = static_cast<int>(box[2]), bh = static_cast<int>(box[3]);
  int x0 = std::min(0, left), y0 = std::min(0, top);
  int pw = std::max(w, left + bw) - x0, ph = std::max(h, top + bh) - y0;
  const uint8_t* in = src.Data();
  std::vector<uint8_t> padded;
  if (pw != w || ph != h) {
    padded.assign(static_cast<size_t>(pw) * ph * c, 0);
    for (int y = 0; y < h; y++)
      std::memcpy(&padded[(static_cast<size_t>(y - y0) * pw - x0) * c], in + static_cast<size_t>(y) * w * c, static_cast<size_t>(w) * c);
    in = padded.data();
  }
  Taps tx = taps(left - x0, bw, pw, ow), ty = taps(top - y0, bh, ph, oh);
  auto out = Napi::Uint8Array::New(a.env(), static_cast<size_t>(ow) * oh * c);
  if (c == 3) resampleRows<3>(in, pw, tx, ty, ow, oh, hflip, vflip, out.Data());
  else if (c == 1) resampleRows<1>(in, pw, tx, ty, ow, oh, hflip, vflip, out.Data());
  else a.fail(3, "must be 1 or 3 channels");
  return imageObject(a.env(), out, ow, oh, c);
}
END

// normalize_chw(data, width, height, channels, outChannels, mean[], std[], out Float32Array, offset):
// writes (v/255 − mean[c]) / std[c] in CHW order at out[offset...], repeating grey to colour or
// turning colour grey (ITU-R 601 luma, as PIL's convert('L')).
OP(normalize_chw) {
  Napi::Uint8Array src = bytesArg(a, 0);
  int w = static_cast<int>(a.integer(1)), h = static_cast<int>(a.integer(2)), c = static_cast<int>(a.integer(3));
  int oc = static_cast<int>(a.integer(4));
  std::vector<double> mean = a.numbers(5), stdev = a.numbers(6);
  if (a.size() <= 7 || !a.info[7].IsTypedArray() || a.info[7].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    a.fail(7, "must be a Float32Array");
  Napi::Float32Array out = a.info[7].As<Napi::Float32Array>();
  int64_t offset = a.integer(8);
  size_t plane = static_cast<size_t>(w) * h;
  if (w <= 0 || h <= 0 || (c != 1 && c != 3) || plane * c != src.ByteLength()) a.fail(0, "does not hold width × height × (1 or 3) bytes");
  if (oc != 1 && oc != 3) a.fail(4, "must be 1 or 3");
  if (mean.empty() || stdev.empty()) a.fail(5, "mean and std must not be empty");
  if (offset < 0 || static_cast<size_t>(offset) + plane * oc > out.ElementLength()) a.fail(8, "puts the image past the end of out");
  const uint8_t* in = src.Data();
  float* o = out.Data() + offset;
  for (int k = 0; k < oc; k++) {
    float table[256];
    double m = mean[std::min<size_t>(k, mean.size() - 1)], sd = stdev[std::min<size_t>(k, stdev.size() - 1)];
    for (int v = 0; v < 256; v++) table[v] = static_cast<float>((v / 255.0 - m) / sd);
    float* dst = o + k * plane;
    if (c == oc || c == 1) {
      int ch = c == 1 ? 0 : k;
      for (size_t i = 0; i < plane; i++) dst[i] = table[in[i * c + ch]];
    } else {
      for (size_t i = 0; i < plane; i++) {
        double v = (in[i * 3] * 299 + in[i * 3 + 1] * 587 + in[i * 3 + 2] * 114) / 1000.0;
        dst[i] = static_cast<float>((v / 255.0 - m) / sd);
      }
    }
  }
  return a.env().Undefined();
}
END
