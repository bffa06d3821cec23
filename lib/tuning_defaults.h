/* tuning_defaults.h: CLBlast parameters kcl ships, chosen by a substring of the
 * OpenCL device name, in the text format of tuning.h (kernel lines only).
 * Each set was found by samples/kcl-tune.c on the device named in its comment
 * and checked there against a double-precision reference. A device's own file
 * (written by kcl-tune) takes precedence. */
#ifndef KCL_TUNING_DEFAULTS_H
#define KCL_TUNING_DEFAULTS_H

static const struct {
    const char *device_substring;
    const char *text;
} kcl__tuning_defaults[] = {
    /* PoCL 3.1 (LLVM 15) "pthread-skylake-avx512" on a 2-vCPU AMD EPYC with
     * AVX-512, CLBlast 1.5.3: kcl-tune --time 300. Over the MLP products
     * 75-115 GFLOP/s against CLBlast's generic 11-13. The switch at 55 runs
     * only products below 55^3 (the 10-unit layer's) on the direct kernel. */
    {"skylake-avx512",
     "Xgemm GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=8 MDIMC=8 MWG=64 NDIMB=8 NDIMC=4 NWG=64 SA=0 "
     "SB=0 STRM=0 STRN=0 VWM=8 VWN=4\n"
     "XgemmDirect KWID=16 MDIMAD=8 MDIMCD=8 NDIMBD=32 NDIMCD=8 PADA=0 PADB=0 VWMD=2 VWND=2 "
     "WGD=64\n"
     "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=55\n"},
};

#endif
