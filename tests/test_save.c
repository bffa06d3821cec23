/* Save and load tests: being written. */
#include "common.h"
int main(void) { return 0; }
