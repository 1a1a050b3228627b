// The one translation unit nvcc compiles into lserve.fatbin: every kernel family is a header.
#include "norm.cuh"
