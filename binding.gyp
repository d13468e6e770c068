{
  # The CPU addon. Kernels that profit from wide SIMD (isa_sources) are compiled three times,
  # once per instruction set, into static libraries whose code lives in distinct namespaces;
  # native/cpu/isa.cc picks one at run time. The CUDA addon is a separate build: CMakeLists.txt
  # (cmake-js, `npm run build:cuda`).
  "variables": {
    "isa_sources": [
      "native/cpu/dwconv.cc",
      "native/cpu/gemm.cc",
      "native/cpu/conv.cc",
      "native/cpu/attention.cc",
      "native/cpu/peak_isa.cc"
    ],
    "common_cflags": ["-O3", "-fPIC", "-fno-math-errno", "-fno-trapping-math", "-std=c++17", "-Wall", "-Wno-unused-function"]
  },
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
    "cflags!": ["-O2", "-O0"],
    "cflags_cc": ["<@(common_cflags)"],
    "include_dirs": ["native"]
  },
  "targets": [
    {
      "target_name": "lkvit_isa_avx512",
      "type": "static_library",
      "sources": ["<@(isa_sources)"],
      "defines": ["LK_ISA_NS=lk_avx512", "LK_ISA_AVX512"],
      "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-mf16c"]
    },
    {
      "target_name": "lkvit_isa_avx2",
      "type": "static_library",
      "sources": ["<@(isa_sources)"],
      "defines": ["LK_ISA_NS=lk_avx2", "LK_ISA_AVX2"],
      "cflags_cc": ["-mavx2", "-mfma", "-mf16c"]
    },
    {
      "target_name": "lkvit_isa_generic",
      "type": "static_library",
      "sources": ["<@(isa_sources)"],
      "defines": ["LK_ISA_NS=lk_generic", "LK_ISA_GENERIC"]
    },
    {
      "target_name": "lkvit",
      "sources": [
        "native/cpu/parallel.cc",
        "native/cpu/isa.cc",
        "native/cpu/norm.cc",
        "native/cpu/nn.cc",
        "native/cpu/steps.cc",
        "native/cpu/peak.cc",
        "native/binding/addon.cc",
        "native/binding/core.cc",
        "native/binding/dwconv.cc",
        "native/binding/gemm.cc",
        "native/binding/conv.cc",
        "native/binding/attention.cc",
        "native/binding/norm.cc",
        "native/binding/nn.cc",
        "native/binding/steps.cc",
        "native/binding/peak.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except_all",
        "lkvit_isa_avx512",
        "lkvit_isa_avx2",
        "lkvit_isa_generic"
      ],
      "defines": ["NAPI_VERSION=8"],
      "ldflags": ["-pthread"]
    }
  ]
}
