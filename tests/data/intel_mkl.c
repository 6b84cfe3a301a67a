/* MKL asks this function whether it runs on an Intel processor, and on other vendors' processors
 * ignores the branch MKL_CBWR names (docs/precision.md). Preloaded into a blindspot process
 * (LD_PRELOAD), it makes an AMD processor take MKL's Intel code paths, as an Intel processor
 * would: the tests' stand-in for a machine of the other vendor. On an Intel processor it changes
 * nothing. */
int mkl_serv_intel_cpu_true(void) { return 1; }
