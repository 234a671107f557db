/* wirematch.h - the public C API of libwirematch, usable without Python.
 * Link with -lwirematch -lpthread. */
#ifndef WIREMATCH_H
#define WIREMATCH_H

#include "wirematch/common.h"
#include "wirematch/pool.h"
#include "wirematch/matcher.h"

#endif
