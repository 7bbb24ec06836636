{
  "targets": [
    {
      "target_name": "lsr_native",
      "sources": ["native/core.cc", "native/tensor.cc", "native/math.cc", "native/shape.cc", "native/nn.cc", "native/loss.cc", "native/image.cc", "native/dist.cc", "native/optim.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/find-libtorch.mjs --include)"
      ],
      "libraries": ["<!@(node scripts/find-libtorch.mjs --libs)", "-lturbojpeg"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED",
                  "<!@(node scripts/find-libtorch.mjs --defines)"],
      "cflags!": ["-fno-exceptions"],
      "ldflags": ["-fopenmp"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-fexceptions", "-frtti", "-O3", "-fopenmp", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    }
  ]
}
