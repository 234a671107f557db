/* wirematch.h - the public C API of libwirematch, usable without Python.
 * Link with -lwirematch -lpthread. */
#ifndef WIREMATCH_H
#define WIREMATCH_H

#include "wirematch/common.h"
#include "wirematch/pool.h"
#include "wirematch/clock.h"
#include "wirematch/hist.h"
#include "wirematch/counters.h"
#include "wirematch/shm.h"
#include "wirematch/mold.h"
#include "wirematch/ouch.h"
#include "wirematch/itch.h"
#include "wirematch/soup.h"
#include "wirematch/soup_server.h"
#include "wirematch/nic.h"
#include "wirematch/ring.h"
#include "wirematch/matcher.h"
#include "wirematch/worker.h"
#include "wirematch/matcher_worker.h"
#include "wirematch/ratelimit.h"
#include "wirematch/flow.h"
#include "wirematch/gateway.h"
#include "wirematch/app.h"
#include "wirematch/journal.h"

#endif
