/* tuning_defaults.h: CLBlast parameters kcl ships, chosen by a substring of the
 * OpenCL device name, in the text format of tuning.h (kernel lines only).
 * Each set was found by samples/kcl-tune.c on the device named in its comment
 * and checked there against a double-precision reference. A device's own file
 * (written by kcl-tune) takes precedence. */
#ifndef KCL_TUNING_DEFAULTS_H
#define KCL_TUNING_DEFAULTS_H

/* PoCL 3.1 (LLVM 15) on a 2-vCPU AMD EPYC with AVX-512, CLBlast 1.5.3:
 * kcl-tune --time 300 on "pthread-skylake-avx512". Over the MLP products
 * 75-115 GFLOP/s against CLBlast's generic 11-13. The switch at 55 runs only
 * products below 55^3 (the 10-unit layer's) on the direct kernel. */
#define KCL_TUNING_AVX512                                                                  \
    "Xgemm GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=8 MDIMC=8 MWG=64 NDIMB=8 NDIMC=4 NWG=64 SA=0 " \
    "SB=0 STRM=0 STRN=0 VWM=8 VWN=4\n"                                                     \
    "XgemmDirect KWID=16 MDIMAD=8 MDIMCD=8 NDIMBD=32 NDIMCD=8 PADA=0 PADB=0 VWMD=2 VWND=2 " \
    "WGD=64\n"                                                                             \
    "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=55\n"

/* The same machine with POCL_LLVM_CPU_NAME=haswell, kcl-tune --time 300 while
 * other jobs ran: 2.8x CLBlast's defaults by kcl-tune's score (seconds per
 * GFLOP over the MLP products, 512^3, 1024^3). Not found on an AVX2-only CPU,
 * whose caches differ, nor on pure AVX2 code: PoCL so configured still emits
 * some 512-bit instructions here (seen in session 4 in its compiled kernels:
 * zmm beside ymm registers). A start that kcl-tune on the user's machine
 * improves on; test_tuning checks its results. */
#define KCL_TUNING_AVX2                                                                    \
    "Xgemm GEMMK=0 KREG=1 KWG=16 KWI=4 MDIMA=8 MDIMC=8 MWG=128 NDIMB=4 NDIMC=4 NWG=64 "     \
    "SA=0 SB=0 STRM=1 STRN=1 VWM=8 VWN=4\n"                                                \
    "XgemmDirect KWID=2 MDIMAD=8 MDIMCD=16 NDIMBD=8 NDIMCD=4 PADA=0 PADB=1 VWMD=1 VWND=4 "  \
    "WGD=64\n"                                                                             \
    "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=69\n"

/* PoCL names its CPU device "pthread-<LLVM CPU name>-<model>"; the first
 * entry whose text occurs in the name wins, so AVX-512 names come first
 * ("skylake-avx512" before the AVX2 client "skylake"). */
static const struct {
    const char *device_substring;
    const char *text;
} kcl__tuning_defaults[] = {
    {"-skylake-avx512", KCL_TUNING_AVX512}, {"-cascadelake", KCL_TUNING_AVX512},
    {"-cooperlake", KCL_TUNING_AVX512},     {"-icelake", KCL_TUNING_AVX512},
    {"-tigerlake", KCL_TUNING_AVX512},      {"-sapphirerapids", KCL_TUNING_AVX512},
    {"-znver4", KCL_TUNING_AVX512},
    {"-haswell", KCL_TUNING_AVX2},          {"-broadwell", KCL_TUNING_AVX2},
    {"-skylake", KCL_TUNING_AVX2},          {"-alderlake", KCL_TUNING_AVX2},
    {"-znver1", KCL_TUNING_AVX2},           {"-znver2", KCL_TUNING_AVX2},
    {"-znver3", KCL_TUNING_AVX2},
};

#endif
