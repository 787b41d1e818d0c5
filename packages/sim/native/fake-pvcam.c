/*
 * A stand-in for Teledyne Photometrics' libpvcam.so.2: the real PVCAM C signatures, struct
 * layouts and call-order rules, with a simulated sensor that writes frames into the caller's
 * circular buffer from its own thread. Tests and benchmarks build it with
 *   gcc -O2 -shared -fPIC -pthread -o libpvcam.so.2 fake-pvcam.c
 * and drive the PVCAM driver against it; fake_pvcam_set/get/reset (not PVCAM) steer and observe it.
 *
 * Written from pvcam.h (PVCAM 3.x and the 2012 header), not from any driver:
 *  - rs_bool = uns16 (0 = failure); int16 camera handles; every call sets the calling thread's
 *    error code (0 on success), read with pl_error_code() / pl_error_message().
 *  - FRAME_INFO is declared without #pragma pack (only md_frame_header/md_frame_roi_header are
 *    packed), so it has natural alignment: 48 bytes on LP64, FrameNr at offset 20.
 *  - Parameter ids are (CLASS << 16) + (TYPE << 24) + index. Attribute result types:
 *    ATTR_AVAIL rs_bool, ATTR_COUNT uns32, ATTR_TYPE / ATTR_ACCESS uns16, others the parameter's
 *    type (TYPE_ENUM values are int32).
 *  - Error numbers 157 (PL_ERR_LIBRARY_NOT_INITIALIZED) and 185 (PL_ERR_CONFIGURATION_INVALID)
 *    are the ones real PVCAM reports; the other numbers below are this fake's own (1000+).
 * Behaviour the SDK leaves to the camera, chosen here and documented where it happens:
 *  - CIRC_NO_OVERWRITE with every slot holding an unretrieved frame: the new frame is lost at the
 *    source (its FrameNr is used, so readers see a gap); with fps = 0 the sensor waits instead.
 *  - pl_exp_get_oldest_frame returns the same frame until pl_exp_unlock_oldest_frame; with no
 *    frame in the buffer it fails with PL_ERR_NO_NEW_FRAME.
 *  - pl_exp_check_cont_status reports READOUT_COMPLETE (= FRAME_AVAILABLE) while a frame is
 *    waiting (oldest: any unlocked-not-yet frame; CIRC_OVERWRITE: a frame newer than the last
 *    pl_exp_get_latest_frame), READOUT_FAILED after a readout failure (and sets the error code).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef uint16_t rs_bool;
typedef uint8_t uns8;
typedef int16_t int16;
typedef uint16_t uns16;
typedef int32_t int32;
typedef uint32_t uns32;
typedef int64_t long64;

#define PV_OK 1
#define PV_FAIL 0
#define EXPORT __attribute__((visibility("default")))

#define CAM_NAME_LEN 32
#define ERROR_MSG_LEN 255
#define MAX_CAM 16

typedef struct {
    uns32 f1;
    uns16 f2;
    uns16 f3;
    uns8 f4[8];
} PVCAM_FRAME_INFO_GUID;

typedef struct {
    PVCAM_FRAME_INFO_GUID FrameInfoGUID;
    int16 hCam;
    int32 FrameNr;
    long64 TimeStamp;
    int32 ReadoutTime;
    long64 TimeStampBOF;
} FRAME_INFO;

_Static_assert(sizeof(FRAME_INFO) == 48, "FRAME_INFO layout must match pvcam.h");
_Static_assert(offsetof(FRAME_INFO, FrameNr) == 20, "FRAME_INFO layout must match pvcam.h");

typedef struct {
    uns16 s1, s2, sbin, p1, p2, pbin;
} rgn_type;

/* The FRAME_INFO GUID as older pvcam.h headers define it (FRAME_INFO_ID). */
static const PVCAM_FRAME_INFO_GUID FRAME_INFO_ID = {
    0xd9d321fc, 0xa233, 0x4272, {0x89, 0x7e, 0x42, 0xec, 0x15, 0xda, 0x0d, 0xd6}};

/* pvcam.h constants. */
enum { TYPE_INT16 = 1, TYPE_UNS16 = 6, TYPE_ENUM = 9, TYPE_BOOLEAN = 11 };
#define CLASS2 2
#define CLASS3 3
#define PARAM_ID(cls, type, idx) ((uns32)(((cls) << 16) + ((type) << 24) + (idx)))
#define PARAM_PAR_SIZE PARAM_ID(CLASS2, TYPE_UNS16, 57)
#define PARAM_SER_SIZE PARAM_ID(CLASS2, TYPE_UNS16, 58)
#define PARAM_BIT_DEPTH PARAM_ID(CLASS2, TYPE_INT16, 511)
#define PARAM_EXPOSURE_MODE PARAM_ID(CLASS2, TYPE_ENUM, 535)
#define PARAM_EXPOSE_OUT_MODE PARAM_ID(CLASS2, TYPE_ENUM, 560)
#define PARAM_EXP_RES PARAM_ID(CLASS3, TYPE_ENUM, 2)
#define PARAM_CIRC_BUFFER PARAM_ID(CLASS3, TYPE_BOOLEAN, 299)
enum { ATTR_CURRENT, ATTR_COUNT, ATTR_TYPE, ATTR_MIN, ATTR_MAX, ATTR_DEFAULT, ATTR_INCREMENT, ATTR_ACCESS, ATTR_AVAIL };
enum { ACC_READ_ONLY = 1, ACC_READ_WRITE = 2 };
enum { READOUT_NOT_ACTIVE, EXPOSURE_IN_PROGRESS, READOUT_IN_PROGRESS, READOUT_COMPLETE, READOUT_FAILED };
enum { CIRC_NONE, CIRC_OVERWRITE, CIRC_NO_OVERWRITE };
enum { EXP_RES_ONE_MILLISEC, EXP_RES_ONE_MICROSEC, EXP_RES_ONE_SEC };
#define EXT_TRIG_INTERNAL ((7 + 0) << 8)
#define EXT_TRIG_TRIG_FIRST ((7 + 1) << 8)
#define EXT_TRIG_EDGE_RISING ((7 + 2) << 8)

/* Error codes: 157 and 185 as real PVCAM reports them, the rest this fake's own. */
enum {
    PL_ERR_NONE = 0,
    PL_ERR_LIBRARY_NOT_INITIALIZED = 157,
    PL_ERR_CONFIGURATION_INVALID = 185,
    PL_ERR_LIBRARY_ALREADY_INITIALIZED = 1001,
    PL_ERR_INVALID_CAMERA_HANDLE = 1002,
    PL_ERR_CAMERA_NOT_FOUND = 1003,
    PL_ERR_CAMERA_ALREADY_OPEN = 1004,
    PL_ERR_INVALID_PARAMETER = 1005,
    PL_ERR_PARAM_NOT_AVAILABLE = 1006,
    PL_ERR_PARAM_READ_ONLY = 1007,
    PL_ERR_ACQUISITION_NOT_SETUP = 1008,
    PL_ERR_ACQUISITION_IN_PROGRESS = 1009,
    PL_ERR_ACQUISITION_NOT_RUNNING = 1010,
    PL_ERR_NO_NEW_FRAME = 1011,
    PL_ERR_BUFFER_SIZE = 1012,
    PL_ERR_OUT_OF_MEMORY = 1013,
    PL_ERR_READOUT_FAILED = 1014,
};

static const struct {
    int16 code;
    const char *text;
} ERROR_TEXT[] = {
    {PL_ERR_NONE, "No error"},
    {PL_ERR_LIBRARY_NOT_INITIALIZED, "PL_ERR_LIBRARY_NOT_INITIALIZED: the PVCAM library is not initialized (call pl_pvcam_init)"},
    {PL_ERR_CONFIGURATION_INVALID, "PL_ERR_CONFIGURATION_INVALID: the camera does not support this acquisition configuration"},
    {PL_ERR_LIBRARY_ALREADY_INITIALIZED, "PL_ERR_LIBRARY_ALREADY_INITIALIZED: the PVCAM library is already initialized"},
    {PL_ERR_INVALID_CAMERA_HANDLE, "PL_ERR_INVALID_CAMERA_HANDLE: the camera handle is not valid (camera not open)"},
    {PL_ERR_CAMERA_NOT_FOUND, "PL_ERR_CAMERA_NOT_FOUND: no camera with this name or index"},
    {PL_ERR_CAMERA_ALREADY_OPEN, "PL_ERR_CAMERA_ALREADY_OPEN: the camera is already open"},
    {PL_ERR_INVALID_PARAMETER, "PL_ERR_INVALID_PARAMETER: an argument is out of range or NULL"},
    {PL_ERR_PARAM_NOT_AVAILABLE, "PL_ERR_PARAM_NOT_AVAILABLE: the parameter is not available on this camera"},
    {PL_ERR_PARAM_READ_ONLY, "PL_ERR_PARAM_READ_ONLY: the parameter is read-only"},
    {PL_ERR_ACQUISITION_NOT_SETUP, "PL_ERR_ACQUISITION_NOT_SETUP: call pl_exp_setup_cont before starting"},
    {PL_ERR_ACQUISITION_IN_PROGRESS, "PL_ERR_ACQUISITION_IN_PROGRESS: an acquisition is running on this camera"},
    {PL_ERR_ACQUISITION_NOT_RUNNING, "PL_ERR_ACQUISITION_NOT_RUNNING: no acquisition is running on this camera"},
    {PL_ERR_NO_NEW_FRAME, "PL_ERR_NO_NEW_FRAME: no frame is available in the buffer"},
    {PL_ERR_BUFFER_SIZE, "PL_ERR_BUFFER_SIZE: the buffer must hold at least two frames and be a multiple of the frame size"},
    {PL_ERR_OUT_OF_MEMORY, "PL_ERR_OUT_OF_MEMORY: memory allocation failed"},
    {PL_ERR_READOUT_FAILED, "PL_ERR_READOUT_FAILED: the sensor readout failed (simulated)"},
};

/* ---------------------------------------------------------------------------------------- */
/* Settings (fake_pvcam_set / environment)                                                    */

enum {
    S_CAMERAS,
    S_WIDTH,
    S_HEIGHT,
    S_BIT_DEPTH,
    S_FPS,
    S_PATTERN,
    S_LOSE_EVERY,
    S_LATE_EVERY,
    S_LATE_MS,
    S_FAIL_OPEN,
    S_FAIL_SETUP,
    S_FAIL_START,
    S_READOUT_FAIL_AFTER,
    S_READOUT_FAIL_CODE,
    S_EXP_RES_MODES,
    S_MODERN_TRIGGERS,
    S_METADATA_BYTES,
    S_SENSOR_CPU,
    S_SENSOR_RT,
    S_COUNT
};

typedef struct {
    const char *key;
    const char *env;
    double def;
    double value;
    int set; /* set by fake_pvcam_set: the environment no longer applies */
} setting_t;

static setting_t g_settings[S_COUNT] = {
    [S_CAMERAS] = {"cameras", "FAKE_PVCAM_CAMERAS", 1},
    [S_WIDTH] = {"width", "FAKE_PVCAM_WIDTH", 2048},
    [S_HEIGHT] = {"height", "FAKE_PVCAM_HEIGHT", 2048},
    [S_BIT_DEPTH] = {"bit_depth", "FAKE_PVCAM_BIT_DEPTH", 16},
    /* < 0: derived from the exposure time; 0: free-running (as fast as buffer space allows). */
    [S_FPS] = {"fps", "FAKE_PVCAM_FPS", -1},
    [S_PATTERN] = {"pattern", "FAKE_PVCAM_PATTERN", 1},
    [S_LOSE_EVERY] = {"lose_every", NULL, 0},
    [S_LATE_EVERY] = {"late_every", NULL, 0},
    [S_LATE_MS] = {"late_ms", NULL, 0},
    [S_FAIL_OPEN] = {"fail_open", NULL, 0},
    [S_FAIL_SETUP] = {"fail_setup", NULL, 0},
    [S_FAIL_START] = {"fail_start", NULL, 0},
    [S_READOUT_FAIL_AFTER] = {"readout_fail_after", NULL, 0},
    [S_READOUT_FAIL_CODE] = {"readout_fail_code", NULL, PL_ERR_READOUT_FAILED},
    /* Bit (1 << EXP_RES_*) per supported exposure resolution: 3 = ms and µs; 0 = no PARAM_EXP_RES
       (an old camera: exposures in ms). */
    [S_EXP_RES_MODES] = {"exp_res_modes", NULL, 3},
    /* 1: list only the extended (sCMOS) exposure modes, as Prime BSI / Kinetix do. */
    [S_MODERN_TRIGGERS] = {"modern_triggers", NULL, 0},
    /* Bytes of frame metadata each frame carries (as with PARAM_METADATA_ENABLED on hardware). */
    [S_METADATA_BYTES] = {"metadata_bytes", NULL, 0},
    /* CPU the frame generator (the camera's "hardware") runs on; < 0: inherit the caller's
       affinity. A real camera fills the buffer by DMA, so benchmarks of an isolated CPU move the
       generator off the camera worker's CPU. */
    [S_SENSOR_CPU] = {"sensor_cpu", "FAKE_PVCAM_SENSOR_CPU", -1},
    /* 1: the generator runs SCHED_FIFO (where permitted), so its frames come on time whatever
       else the CPU does, as a camera's do. fake_pvcam_get("sensor_rt_ok") says if it took. */
    [S_SENSOR_RT] = {"sensor_rt", "FAKE_PVCAM_SENSOR_RT", 0},
};
static int g_sensor_rt_ok;
/* End-of-frame time (CLOCK_MONOTONIC, ms) of the last 65536 frame numbers, for latency benchmarks. */
static double g_eof_ms[65536];

static double setting(int s) { return g_settings[s].value; }

/* ---------------------------------------------------------------------------------------- */
/* State                                                                                      */

typedef struct {
    int open;
    int16 hcam;
    int32 exp_res;
    int32 expose_out;
    /* pl_exp_setup_cont */
    int setup;
    uns16 width, height; /* after binning */
    uns32 frame_bytes; /* per slot: pixels, then any metadata */
    uns32 pixel_bytes;
    int16 buffer_mode;
    uint64_t exposure_ns;
    /* pl_exp_start_cont */
    int started;     /* start_cont succeeded, stop_cont not yet called */
    int thread_live; /* the generator thread exists and has not been joined */
    int stop_req;
    int stopping;
    pthread_t thread;
    pthread_cond_t cond; /* wakes the generator (stop, freed slot) and waiting stoppers */
    uint8_t *buf;
    uns32 slots;
    FRAME_INFO *info; /* one per slot */
    uns32 head;       /* next slot to write */
    uns32 oldest;     /* oldest frame not yet unlocked */
    uns32 queued;     /* frames written and not yet unlocked */
    uint64_t written; /* frames written into the buffer this acquisition */
    uns32 latest;     /* slot of the newest frame */
    int new_for_latest;
    uint32_t produced; /* FrameNr of the last frame the sensor produced */
    int failed;
    int16 fail_code;
    /* snapshot of the settings at start */
    uint64_t period_ns; /* 0: free-running */
    unsigned bit_depth;
    int pattern;
    uint32_t lose_every, late_every, late_ms, fail_after;
} cam_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_init;
static int g_num_cams;
static cam_t g_cams[MAX_CAM];
static int g_conds_ready;

static uint64_t g_frames_generated, g_frames_lost, g_frames_lost_sensor, g_frames_overwritten;
static int g_threads_alive;
static int g_frame_info_structs;
static double g_last_exp_res = -1, g_last_exposure = -1, g_last_exp_mode = -1, g_last_buffer_mode = -1;

static __thread int16 t_err;

static rs_bool ok(void) {
    t_err = PL_ERR_NONE;
    return PV_OK;
}

static rs_bool fail(int16 code) {
    t_err = code;
    return PV_FAIL;
}

static void ensure_conds(void) {
    if (g_conds_ready) return;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    /* Absolute CLOCK_MONOTONIC deadlines: the frame schedule ignores wall-clock changes. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    for (int i = 0; i < MAX_CAM; i++) pthread_cond_init(&g_cams[i].cond, &attr);
    pthread_condattr_destroy(&attr);
    g_conds_ready = 1;
}

/* The open camera behind a handle, or an error code. Caller holds g_lock. */
static int16 lookup(int16 hcam, cam_t **out) {
    if (!g_init) return PL_ERR_LIBRARY_NOT_INITIALIZED;
    if (hcam < 0 || hcam >= g_num_cams || !g_cams[hcam].open) return PL_ERR_INVALID_CAMERA_HANDLE;
    *out = &g_cams[hcam];
    return PL_ERR_NONE;
}

static void timespec_add_ns(struct timespec *t, uint64_t ns) {
    uint64_t total = (uint64_t)t->tv_nsec + ns;
    t->tv_sec += (time_t)(total / 1000000000u);
    t->tv_nsec = (long)(total % 1000000000u);
}

static long64 now_100ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long64)t.tv_sec * 10000000 + t.tv_nsec / 100;
}

/* ---------------------------------------------------------------------------------------- */
/* The sensor                                                                                 */

typedef uint16_t u16x8 __attribute__((vector_size(16)));

/*
 * The test pattern (frame-source.ts patternPixel): pixel 0 = FrameNr & 0xffff, pixel 1 =
 * FrameNr >> 16, pixel i = (FrameNr * 31 + i) & (2^bit_depth - 1). Pixels are computed in 16-bit
 * lanes, eight at a time (the mask fits 16 bits, so the low 16 bits of the sum suffice).
 */
static void fill_frame(uint16_t *p, size_t n, uint32_t nr, unsigned bit_depth, int pattern) {
    p[0] = (uint16_t)(nr & 0xffff);
    if (n > 1) p[1] = (uint16_t)(nr >> 16);
    if (!pattern || n <= 2) return;
    const uint16_t mask = bit_depth >= 16 ? 0xffff : (uint16_t)((1u << bit_depth) - 1);
    const uint16_t base = (uint16_t)(nr * 31u + 2u);
    u16x8 v = {0, 1, 2, 3, 4, 5, 6, 7};
    v += base;
    size_t i = 2;
    for (; i + 32 <= n; i += 32) {
        u16x8 a = v & mask, b = (v + 8) & mask, c = (v + 16) & mask, d = (v + 24) & mask;
        memcpy(p + i, &a, 16);
        memcpy(p + i + 8, &b, 16);
        memcpy(p + i + 16, &c, 16);
        memcpy(p + i + 24, &d, 16);
        v += 32;
    }
    for (; i < n; i++) p[i] = (uint16_t)((nr * 31u + (uint32_t)i) & mask);
}

/* Waits on the camera's condition until `deadline` or a stop request. Caller holds g_lock. */
static void wait_until(cam_t *c, const struct timespec *deadline) {
    while (!c->stop_req) {
        int rc = pthread_cond_timedwait(&c->cond, &g_lock, deadline);
        if (rc == ETIMEDOUT) break;
    }
}

static void *generator(void *arg) {
    cam_t *c = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    const size_t pixels = c->pixel_bytes / 2;
    pthread_mutex_lock(&g_lock);
    while (!c->stop_req) {
        if (c->period_ns > 0) {
            /* Each frame ends one period after the previous one's deadline (not after its delivery),
               so late or slow frames do not shift the schedule. */
            timespec_add_ns(&next, c->period_ns);
            wait_until(c, &next);
            if (c->stop_req) break;
        }
        const uint32_t nr = ++c->produced;
        if (c->lose_every && nr % c->lose_every == 0) {
            g_frames_lost_sensor++; /* an overrun in the sensor: the number is skipped */
            continue;
        }
        if (c->late_every && c->late_ms && nr % c->late_every == 0) {
            struct timespec late;
            clock_gettime(CLOCK_MONOTONIC, &late);
            timespec_add_ns(&late, (uint64_t)c->late_ms * 1000000u);
            wait_until(c, &late);
            if (c->stop_req) break;
        }
        if (c->queued == c->slots) {
            if (c->buffer_mode == CIRC_NO_OVERWRITE) {
                if (c->period_ns > 0) {
                    g_frames_lost++; /* the frame existed: readers see its number missing */
                    continue;
                }
                while (!c->stop_req && c->queued == c->slots) pthread_cond_wait(&c->cond, &g_lock);
                if (c->stop_req) break;
            } else {
                /* CIRC_OVERWRITE: the oldest frame gives its slot to the new one. */
                c->oldest = (c->oldest + 1) % c->slots;
                c->queued--;
                g_frames_overwritten++;
            }
        }
        const uns32 slot = c->head;
        uint8_t *dst = c->buf + (size_t)slot * c->frame_bytes;
        const unsigned bit_depth = c->bit_depth;
        const int pattern = c->pattern;
        pthread_mutex_unlock(&g_lock);

        const long64 bof = now_100ns();
        fill_frame((uint16_t *)dst, pixels, nr, bit_depth, pattern);
        const long64 eof = now_100ns();

        pthread_mutex_lock(&g_lock);
        FRAME_INFO *fi = &c->info[slot];
        fi->FrameInfoGUID = FRAME_INFO_ID;
        fi->hCam = c->hcam;
        fi->FrameNr = (int32)nr;
        fi->TimeStamp = eof;
        g_eof_ms[nr & 0xffff] = (double)eof / 1e4;
        fi->TimeStampBOF = bof;
        fi->ReadoutTime = (int32)(eof - bof); /* in the same 100 ns units */
        c->head = (slot + 1) % c->slots;
        c->queued++;
        c->written++;
        c->latest = slot;
        c->new_for_latest = 1;
        g_frames_generated++;
        if (c->fail_after && nr >= c->fail_after) {
            c->failed = 1;
            c->fail_code = (int16)setting(S_READOUT_FAIL_CODE);
            break;
        }
    }
    g_threads_alive--;
    pthread_mutex_unlock(&g_lock);
    return NULL;
}

/* Stops the acquisition and joins the sensor thread. Called and returns with g_lock held. */
static void stop_locked(cam_t *c) {
    while (c->stopping) pthread_cond_wait(&c->cond, &g_lock);
    if (!c->started) return;
    if (c->thread_live) {
        c->stopping = 1;
        c->stop_req = 1;
        pthread_cond_broadcast(&c->cond);
        pthread_t th = c->thread;
        pthread_mutex_unlock(&g_lock);
        pthread_join(th, NULL);
        pthread_mutex_lock(&g_lock);
        c->thread_live = 0;
        c->stopping = 0;
    }
    c->started = 0;
    c->buf = NULL; /* the caller owns the buffer; it is never touched after stop returns */
    free(c->info);
    c->info = NULL;
    pthread_cond_broadcast(&c->cond);
}

static void close_locked(cam_t *c) {
    stop_locked(c);
    c->open = 0;
    c->setup = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Class 0/1: library, cameras, errors                                                        */

EXPORT rs_bool pl_pvcam_get_ver(uns16 *version) {
    if (!version) return fail(PL_ERR_INVALID_PARAMETER);
    *version = (3 << 8) | (10 << 4) | 2; /* 3.10.2, as MMMMMMMMrrrrTTTT */
    return ok();
}

EXPORT rs_bool pl_pvcam_init(void) {
    pthread_mutex_lock(&g_lock);
    if (g_init) {
        pthread_mutex_unlock(&g_lock);
        return fail(PL_ERR_LIBRARY_ALREADY_INITIALIZED);
    }
    ensure_conds();
    /* Environment defaults, so a separate `daq` process can be configured. */
    for (int s = 0; s < S_COUNT; s++) {
        if (g_settings[s].set || !g_settings[s].env) continue;
        const char *v = getenv(g_settings[s].env);
        if (v && *v) g_settings[s].value = strtod(v, NULL);
    }
    int n = (int)setting(S_CAMERAS);
    g_num_cams = n < 0 ? 0 : n > MAX_CAM ? MAX_CAM : n;
    for (int i = 0; i < MAX_CAM; i++) {
        g_cams[i].open = 0;
        g_cams[i].hcam = (int16)i;
    }
    g_init = 1;
    pthread_mutex_unlock(&g_lock);
    return ok();
}

EXPORT rs_bool pl_pvcam_uninit(void) {
    pthread_mutex_lock(&g_lock);
    if (!g_init) {
        pthread_mutex_unlock(&g_lock);
        return fail(PL_ERR_LIBRARY_NOT_INITIALIZED);
    }
    for (int i = 0; i < g_num_cams; i++)
        if (g_cams[i].open) close_locked(&g_cams[i]);
    g_init = 0;
    pthread_mutex_unlock(&g_lock);
    return ok();
}

/* How many cameras the library lists (into *n); PL_ERR_LIBRARY_NOT_INITIALIZED before pl_pvcam_init. */
static int16 camera_count(int *n) {
    pthread_mutex_lock(&g_lock);
    int init = g_init;
    *n = g_num_cams;
    pthread_mutex_unlock(&g_lock);
    return init ? PL_ERR_NONE : PL_ERR_LIBRARY_NOT_INITIALIZED;
}

EXPORT rs_bool pl_cam_get_total(int16 *total) {
    if (!total) return fail(PL_ERR_INVALID_PARAMETER);
    int n;
    int16 err = camera_count(&n);
    if (err) return fail(err);
    *total = (int16)n;
    return ok();
}

EXPORT rs_bool pl_cam_get_name(int16 cam_num, char *name) {
    if (!name) return fail(PL_ERR_INVALID_PARAMETER);
    int n;
    int16 err = camera_count(&n);
    if (err) return fail(err);
    if (cam_num < 0 || cam_num >= n) return fail(PL_ERR_CAMERA_NOT_FOUND);
    snprintf(name, CAM_NAME_LEN, "pvcam%d", cam_num);
    return ok();
}

EXPORT rs_bool pl_cam_open(char *name, int16 *hcam, int16 mode) {
    if (!name || !hcam || mode != 0 /* OPEN_EXCLUSIVE */) return fail(PL_ERR_INVALID_PARAMETER);
    int16 err = PL_ERR_NONE;
    pthread_mutex_lock(&g_lock);
    int idx = -1;
    char expect[CAM_NAME_LEN];
    for (int i = 0; g_init && i < g_num_cams; i++) {
        snprintf(expect, sizeof expect, "pvcam%d", i);
        if (strncmp(expect, name, CAM_NAME_LEN) == 0) idx = i;
    }
    if (!g_init)
        err = PL_ERR_LIBRARY_NOT_INITIALIZED;
    else if (setting(S_FAIL_OPEN) != 0) {
        err = (int16)setting(S_FAIL_OPEN);
        g_settings[S_FAIL_OPEN].value = 0; /* fails once */
    } else if (idx < 0)
        err = PL_ERR_CAMERA_NOT_FOUND;
    else if (g_cams[idx].open)
        err = PL_ERR_CAMERA_ALREADY_OPEN;
    else {
        cam_t *c = &g_cams[idx];
        c->open = 1;
        c->setup = 0;
        c->started = 0;
        c->expose_out = 0;
        int modes = (int)setting(S_EXP_RES_MODES);
        /* Starts in ms when offered (or when there is no PARAM_EXP_RES), else the unit there is. */
        c->exp_res = (modes & 1) || !(modes & 7) ? EXP_RES_ONE_MILLISEC
                     : (modes & 2)              ? EXP_RES_ONE_MICROSEC
                                                : EXP_RES_ONE_SEC;
        *hcam = c->hcam;
    }
    pthread_mutex_unlock(&g_lock);
    return err ? fail(err) : ok();
}

EXPORT rs_bool pl_cam_close(int16 hcam) {
    cam_t *c;
    pthread_mutex_lock(&g_lock);
    int16 err = lookup(hcam, &c);
    if (!err) close_locked(c);
    pthread_mutex_unlock(&g_lock);
    return err ? fail(err) : ok();
}

EXPORT int16 pl_error_code(void) { return t_err; }

EXPORT rs_bool pl_error_message(int16 code, char *msg) {
    if (!msg) return PV_FAIL;
    for (size_t i = 0; i < sizeof ERROR_TEXT / sizeof ERROR_TEXT[0]; i++) {
        if (ERROR_TEXT[i].code == code) {
            snprintf(msg, ERROR_MSG_LEN, "%s", ERROR_TEXT[i].text);
            return PV_OK;
        }
    }
    snprintf(msg, ERROR_MSG_LEN, "PL_ERR_FAKE_INJECTED: simulated failure (error %d)", code);
    return PV_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Class 2: parameters                                                                        */

typedef struct {
    int32 value;
    const char *name;
} enum_entry;

static const enum_entry EXP_RES_ENUM[] = {
    {EXP_RES_ONE_MILLISEC, "One Millisecond"}, {EXP_RES_ONE_MICROSEC, "One Microsecond"}, {EXP_RES_ONE_SEC, "One Second"}};
static const enum_entry LEGACY_MODES[] = {{0, "Timed"}, {1, "Strobed"}, {2, "Bulb"}, {3, "Trigger First"}};
static const enum_entry MODERN_MODES[] = {
    {EXT_TRIG_INTERNAL, "Internal Trigger"}, {EXT_TRIG_TRIG_FIRST, "Trigger First"}, {EXT_TRIG_EDGE_RISING, "Edge Trigger"}};
static const enum_entry EXPOSE_OUT_ENUM[] = {{0, "First Row"}, {1, "All Rows"}, {2, "Any Row"}, {3, "Rolling Shutter"}};

/* Fills `out` with the entries of an enum parameter; returns their count (0: not an enum we know). */
static int enum_entries(uns32 id, enum_entry *out) {
    int n = 0;
    if (id == PARAM_EXP_RES) {
        int modes = (int)setting(S_EXP_RES_MODES);
        for (int i = 0; i < 3; i++)
            if (modes & (1 << EXP_RES_ENUM[i].value)) out[n++] = EXP_RES_ENUM[i];
    } else if (id == PARAM_EXPOSURE_MODE) {
        const enum_entry *src = setting(S_MODERN_TRIGGERS) != 0 ? MODERN_MODES : LEGACY_MODES;
        int count = setting(S_MODERN_TRIGGERS) != 0 ? 3 : 4;
        for (int i = 0; i < count; i++) out[n++] = src[i];
    } else if (id == PARAM_EXPOSE_OUT_MODE) {
        for (int i = 0; i < 4; i++) out[n++] = EXPOSE_OUT_ENUM[i];
    }
    return n;
}

static int param_available(uns32 id) {
    return id == PARAM_SER_SIZE || id == PARAM_PAR_SIZE || id == PARAM_BIT_DEPTH || id == PARAM_EXPOSURE_MODE ||
           id == PARAM_CIRC_BUFFER || (id == PARAM_EXP_RES && ((int)setting(S_EXP_RES_MODES) & 7) != 0) ||
           (id == PARAM_EXPOSE_OUT_MODE && setting(S_MODERN_TRIGGERS) != 0);
}

static int enum_contains(uns32 id, int32 value) {
    enum_entry e[8];
    int n = enum_entries(id, e);
    for (int i = 0; i < n; i++)
        if (e[i].value == value) return 1;
    return 0;
}

EXPORT rs_bool pl_get_param(int16 hcam, uns32 id, int16 attr, void *value) {
    cam_t *c;
    pthread_mutex_lock(&g_lock);
    int16 err = lookup(hcam, &c);
    if (!err && !value) err = PL_ERR_INVALID_PARAMETER;
    if (err) {
        pthread_mutex_unlock(&g_lock);
        return fail(err);
    }
    const int avail = param_available(id);
    if (attr == ATTR_AVAIL) {
        *(rs_bool *)value = (rs_bool)avail;
        pthread_mutex_unlock(&g_lock);
        return ok();
    }
    if (!avail) {
        pthread_mutex_unlock(&g_lock);
        return fail(PL_ERR_PARAM_NOT_AVAILABLE);
    }
    const int type = (int)((id >> 24) & 0xff);
    enum_entry e[8];
    const int n = enum_entries(id, e);
    int64_t cur = 0, def = 0, min = 0, max = 0;
    int access = ACC_READ_ONLY;
    if (id == PARAM_SER_SIZE) cur = def = min = max = (int64_t)setting(S_WIDTH);
    else if (id == PARAM_PAR_SIZE) cur = def = min = max = (int64_t)setting(S_HEIGHT);
    else if (id == PARAM_BIT_DEPTH) cur = def = min = max = (int64_t)setting(S_BIT_DEPTH);
    else if (id == PARAM_CIRC_BUFFER) cur = def = min = max = 1;
    else {
        access = ACC_READ_WRITE;
        cur = id == PARAM_EXP_RES ? c->exp_res : id == PARAM_EXPOSE_OUT_MODE ? c->expose_out : e[0].value;
        def = e[0].value;
        min = max = e[0].value;
        for (int i = 1; i < n; i++) {
            if (e[i].value < min) min = e[i].value;
            if (e[i].value > max) max = e[i].value;
        }
    }
    pthread_mutex_unlock(&g_lock);
    int64_t v;
    switch (attr) {
    case ATTR_TYPE: *(uns16 *)value = (uns16)type; return ok();
    case ATTR_ACCESS: *(uns16 *)value = (uns16)access; return ok();
    case ATTR_COUNT: *(uns32 *)value = (uns32)(type == TYPE_ENUM ? n : 1); return ok();
    case ATTR_CURRENT: v = cur; break;
    case ATTR_DEFAULT: v = def; break;
    case ATTR_MIN: v = min; break;
    case ATTR_MAX: v = max; break;
    case ATTR_INCREMENT: v = type == TYPE_ENUM ? 0 : 1; break;
    default: return fail(PL_ERR_INVALID_PARAMETER);
    }
    if (type == TYPE_UNS16) *(uns16 *)value = (uns16)v;
    else if (type == TYPE_INT16) *(int16 *)value = (int16)v;
    else if (type == TYPE_BOOLEAN) *(rs_bool *)value = (rs_bool)v;
    else *(int32 *)value = (int32)v;
    return ok();
}

EXPORT rs_bool pl_set_param(int16 hcam, uns32 id, void *value) {
    cam_t *c;
    pthread_mutex_lock(&g_lock);
    int16 err = lookup(hcam, &c);
    if (!err && !value) err = PL_ERR_INVALID_PARAMETER;
    else if (!err && !param_available(id)) err = PL_ERR_PARAM_NOT_AVAILABLE;
    else if (!err && id != PARAM_EXP_RES && id != PARAM_EXPOSE_OUT_MODE && id != PARAM_EXPOSURE_MODE)
        err = PL_ERR_PARAM_READ_ONLY;
    else if (!err && c->started) err = PL_ERR_ACQUISITION_IN_PROGRESS;
    else if (!err && !enum_contains(id, *(int32 *)value)) err = PL_ERR_INVALID_PARAMETER;
    else if (!err) {
        if (id == PARAM_EXP_RES) c->exp_res = *(int32 *)value;
        else if (id == PARAM_EXPOSE_OUT_MODE) c->expose_out = *(int32 *)value;
        /* PARAM_EXPOSURE_MODE: accepted; the mode given to pl_exp_setup_cont is what counts. */
    }
    pthread_mutex_unlock(&g_lock);
    return err ? fail(err) : ok();
}

/* Entry `index` of camera `hcam`'s enum parameter `id` (into *entry), for pl_get_enum_param and
 * pl_enum_str_length; `has_out` is false when the caller gave no place for the answer. */
static int16 enum_entry_at(int16 hcam, uns32 id, uns32 index, int has_out, enum_entry *entry) {
    cam_t *c;
    pthread_mutex_lock(&g_lock);
    int16 err = lookup(hcam, &c);
    enum_entry e[8];
    int n = err ? 0 : enum_entries(id, e);
    if (!err && !param_available(id)) err = PL_ERR_PARAM_NOT_AVAILABLE;
    else if (!err && (n == 0 || index >= (uns32)n || !has_out)) err = PL_ERR_INVALID_PARAMETER;
    pthread_mutex_unlock(&g_lock);
    if (!err) *entry = e[index];
    return err;
}

EXPORT rs_bool pl_get_enum_param(int16 hcam, uns32 id, uns32 index, int32 *value, char *desc, uns32 length) {
    enum_entry e;
    int16 err = enum_entry_at(hcam, id, index, value != NULL, &e);
    if (err) return fail(err);
    *value = e.value;
    if (desc && length > 0) snprintf(desc, length, "%s", e.name);
    return ok();
}

EXPORT rs_bool pl_enum_str_length(int16 hcam, uns32 id, uns32 index, uns32 *length) {
    enum_entry e;
    int16 err = enum_entry_at(hcam, id, index, length != NULL, &e);
    if (err) return fail(err);
    *length = (uns32)strlen(e.name) + 1;
    return ok();
}

EXPORT rs_bool pl_create_frame_info_struct(FRAME_INFO **out) {
    if (!out) return fail(PL_ERR_INVALID_PARAMETER);
    FRAME_INFO *fi = calloc(1, sizeof *fi);
    if (!fi) return fail(PL_ERR_OUT_OF_MEMORY);
    fi->FrameInfoGUID = FRAME_INFO_ID;
    pthread_mutex_lock(&g_lock);
    g_frame_info_structs++;
    pthread_mutex_unlock(&g_lock);
    *out = fi;
    return ok();
}

EXPORT rs_bool pl_release_frame_info_struct(FRAME_INFO *fi) {
    if (!fi) return fail(PL_ERR_INVALID_PARAMETER);
    free(fi);
    pthread_mutex_lock(&g_lock);
    g_frame_info_structs--;
    pthread_mutex_unlock(&g_lock);
    return ok();
}

/* ---------------------------------------------------------------------------------------- */
/* Class 3: continuous acquisition                                                            */

static int exp_mode_supported(int16 mode) {
    if (setting(S_MODERN_TRIGGERS) != 0) {
        /* Extended modes carry an expose-out mode in their low byte. */
        return enum_contains(PARAM_EXPOSURE_MODE, mode & 0xff00) && enum_contains(PARAM_EXPOSE_OUT_MODE, mode & 0xff);
    }
    return enum_contains(PARAM_EXPOSURE_MODE, mode);
}

EXPORT rs_bool pl_exp_setup_cont(int16 hcam, uns16 rgn_total, const rgn_type *rgn, int16 exp_mode, uns32 exposure,
                                 uns32 *exp_bytes, int16 buffer_mode) {
    cam_t *c;
    pthread_mutex_lock(&g_lock);
    int16 err = lookup(hcam, &c);
    const uns32 w = (uns32)setting(S_WIDTH), h = (uns32)setting(S_HEIGHT);
    if (err) {
    } else if (c->started) err = PL_ERR_ACQUISITION_IN_PROGRESS;
    else if (!rgn || !exp_bytes) err = PL_ERR_INVALID_PARAMETER;
    else if (setting(S_FAIL_SETUP) != 0) {
        err = (int16)setting(S_FAIL_SETUP);
        g_settings[S_FAIL_SETUP].value = 0;
    } else if (rgn_total != 1 || rgn->sbin == 0 || rgn->pbin == 0 || rgn->s1 > rgn->s2 || rgn->p1 > rgn->p2 ||
               rgn->s2 >= w || rgn->p2 >= h || (rgn->s2 - rgn->s1 + 1u) < rgn->sbin || (rgn->p2 - rgn->p1 + 1u) < rgn->pbin)
        err = PL_ERR_CONFIGURATION_INVALID;
    else if (buffer_mode != CIRC_OVERWRITE && buffer_mode != CIRC_NO_OVERWRITE) err = PL_ERR_CONFIGURATION_INVALID;
    else if (!exp_mode_supported(exp_mode)) err = PL_ERR_CONFIGURATION_INVALID;
    else if (exposure == 0) err = PL_ERR_CONFIGURATION_INVALID;
    else {
        /* A region that is not a multiple of the binning loses its remainder, as on hardware. */
        c->width = (uns16)((rgn->s2 - rgn->s1 + 1u) / rgn->sbin);
        c->height = (uns16)((rgn->p2 - rgn->p1 + 1u) / rgn->pbin);
        c->pixel_bytes = (uns32)c->width * c->height * 2u;
        c->frame_bytes = c->pixel_bytes + (uns32)setting(S_METADATA_BYTES);
        c->buffer_mode = buffer_mode;
        const uint64_t unit = c->exp_res == EXP_RES_ONE_MICROSEC ? 1000u : c->exp_res == EXP_RES_ONE_SEC ? 1000000000u : 1000000u;
        c->exposure_ns = (uint64_t)exposure * unit;
        c->setup = 1;
        *exp_bytes = c->frame_bytes;
        g_last_exp_res = c->exp_res;
        g_last_exposure = exposure;
        g_last_exp_mode = exp_mode;
        g_last_buffer_mode = buffer_mode;
    }
    pthread_mutex_unlock(&g_lock);
    return err ? fail(err) : ok();
}

EXPORT rs_bool pl_exp_start_cont(int16 hcam, void *buffer, uns32 size) {
    cam_t *c;
    pthread_mutex_lock(&g_lock);
    int16 err = lookup(hcam, &c);
    if (err) {
    } else if (!c->setup) err = PL_ERR_ACQUISITION_NOT_SETUP;
    else if (c->started) err = PL_ERR_ACQUISITION_IN_PROGRESS;
    else if (!buffer) err = PL_ERR_INVALID_PARAMETER;
    else if (size % c->frame_bytes != 0 || size / c->frame_bytes < 2) err = PL_ERR_BUFFER_SIZE;
    else if (setting(S_FAIL_START) != 0) {
        err = (int16)setting(S_FAIL_START);
        g_settings[S_FAIL_START].value = 0;
    } else {
        c->slots = size / c->frame_bytes;
        c->info = calloc(c->slots, sizeof(FRAME_INFO));
        if (!c->info) err = PL_ERR_OUT_OF_MEMORY;
    }
    if (!err) {
        c->buf = buffer;
        c->head = c->oldest = c->queued = c->latest = 0;
        c->written = 0;
        c->new_for_latest = 0;
        c->produced = 0;
        c->failed = 0;
        c->fail_code = 0;
        c->stop_req = 0;
        const double fps = setting(S_FPS);
        c->period_ns = fps < 0 ? c->exposure_ns : fps == 0 ? 0 : (uint64_t)(1e9 / fps);
        c->bit_depth = (unsigned)setting(S_BIT_DEPTH);
        c->pattern = setting(S_PATTERN) != 0;
        c->lose_every = (uint32_t)setting(S_LOSE_EVERY);
        c->late_every = (uint32_t)setting(S_LATE_EVERY);
        c->late_ms = (uint32_t)setting(S_LATE_MS);
        c->fail_after = (uint32_t)setting(S_READOUT_FAIL_AFTER);
        c->started = 1;
        c->thread_live = 1;
        g_threads_alive++;
        if (pthread_create(&c->thread, NULL, generator, c) != 0) {
            g_threads_alive--;
            c->thread_live = 0;
            c->started = 0;
            free(c->info);
            c->info = NULL;
            err = PL_ERR_OUT_OF_MEMORY;
        } else if (setting(S_SENSOR_CPU) >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET((int)setting(S_SENSOR_CPU), &set);
            pthread_setaffinity_np(c->thread, sizeof set, &set);
        }
        if (c->thread_live && setting(S_SENSOR_RT) != 0) {
            struct sched_param sp = {.sched_priority = 20};
            g_sensor_rt_ok = pthread_setschedparam(c->thread, SCHED_FIFO, &sp) == 0;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return err ? fail(err) : ok();
}

static rs_bool check_status(int16 hcam, int16 *status, uns32 *bytes, uns32 *buffer_cnt, FRAME_INFO *fi) {
    cam_t *c;
    pthread_mutex_lock(&g_lock);
    int16 err = lookup(hcam, &c);
    if (!err && (!status || !bytes || !buffer_cnt)) err = PL_ERR_INVALID_PARAMETER;
    if (err) {
        pthread_mutex_unlock(&g_lock);
        return fail(err);
    }
    int16 failure = 0;
    if (!c->started) *status = READOUT_NOT_ACTIVE;
    else if (c->failed) {
        *status = READOUT_FAILED;
        failure = c->fail_code;
    } else if (c->buffer_mode == CIRC_NO_OVERWRITE ? c->queued > 0 : c->new_for_latest)
        *status = READOUT_COMPLETE;
    else
        *status = EXPOSURE_IN_PROGRESS;
    /* bytes that arrived this time through the buffer, and completed passes through it */
    *bytes = c->started ? (uns32)(c->written % c->slots) * c->frame_bytes : 0;
    *buffer_cnt = c->started ? (uns32)(c->written / c->slots) : 0;
    if (fi && c->started && c->written > 0) {
        const FRAME_INFO *src = &c->info[c->latest];
        fi->hCam = src->hCam;
        fi->FrameNr = src->FrameNr;
        fi->TimeStamp = src->TimeStamp;
        fi->ReadoutTime = src->ReadoutTime;
        fi->TimeStampBOF = src->TimeStampBOF;
    }
    pthread_mutex_unlock(&g_lock);
    if (failure) {
        /* The call succeeds; the readout failure's code is what pl_error_code reports next. */
        t_err = failure;
        return PV_OK;
    }
    return ok();
}

EXPORT rs_bool pl_exp_check_cont_status(int16 hcam, int16 *status, uns32 *bytes, uns32 *buffer_cnt) {
    return check_status(hcam, status, bytes, buffer_cnt, NULL);
}

EXPORT rs_bool pl_exp_check_cont_status_ex(int16 hcam, int16 *status, uns32 *bytes, uns32 *buffer_cnt, FRAME_INFO *fi) {
    if (!fi) return fail(PL_ERR_INVALID_PARAMETER);
    return check_status(hcam, status, bytes, buffer_cnt, fi);
}

static void copy_info(FRAME_INFO *dst, const FRAME_INFO *src) {
    /* The caller's GUID (set by pl_create_frame_info_struct) stays as it is. */
    dst->hCam = src->hCam;
    dst->FrameNr = src->FrameNr;
    dst->TimeStamp = src->TimeStamp;
    dst->ReadoutTime = src->ReadoutTime;
    dst->TimeStampBOF = src->TimeStampBOF;
}

static rs_bool get_frame(int16 hcam, void **frame, FRAME_INFO *fi, int oldest) {
    cam_t *c;
    pthread_mutex_lock(&g_lock);
    int16 err = lookup(hcam, &c);
    if (!err && !frame) err = PL_ERR_INVALID_PARAMETER;
    else if (!err && !c->started) err = PL_ERR_ACQUISITION_NOT_RUNNING;
    else if (!err && (oldest ? c->queued == 0 : c->written == 0)) err = PL_ERR_NO_NEW_FRAME;
    else if (!err) {
        const uns32 slot = oldest ? c->oldest : c->latest;
        *frame = c->buf + (size_t)slot * c->frame_bytes;
        if (fi) copy_info(fi, &c->info[slot]);
        if (!oldest) c->new_for_latest = 0;
    }
    pthread_mutex_unlock(&g_lock);
    return err ? fail(err) : ok();
}

EXPORT rs_bool pl_exp_get_latest_frame(int16 hcam, void **frame) { return get_frame(hcam, frame, NULL, 0); }

EXPORT rs_bool pl_exp_get_latest_frame_ex(int16 hcam, void **frame, FRAME_INFO *fi) {
    if (!fi) return fail(PL_ERR_INVALID_PARAMETER);
    return get_frame(hcam, frame, fi, 0);
}

EXPORT rs_bool pl_exp_get_oldest_frame(int16 hcam, void **frame) { return get_frame(hcam, frame, NULL, 1); }

EXPORT rs_bool pl_exp_get_oldest_frame_ex(int16 hcam, void **frame, FRAME_INFO *fi) {
    if (!fi) return fail(PL_ERR_INVALID_PARAMETER);
    return get_frame(hcam, frame, fi, 1);
}

EXPORT rs_bool pl_exp_unlock_oldest_frame(int16 hcam) {
    cam_t *c;
    pthread_mutex_lock(&g_lock);
    int16 err = lookup(hcam, &c);
    if (!err && !c->started) err = PL_ERR_ACQUISITION_NOT_RUNNING;
    else if (!err && c->queued == 0) err = PL_ERR_NO_NEW_FRAME;
    else if (!err) {
        c->oldest = (c->oldest + 1) % c->slots;
        c->queued--;
        pthread_cond_broadcast(&c->cond); /* a free-running sensor waits for this slot */
    }
    pthread_mutex_unlock(&g_lock);
    return err ? fail(err) : ok();
}

EXPORT rs_bool pl_exp_stop_cont(int16 hcam, int16 cam_state) {
    cam_t *c;
    pthread_mutex_lock(&g_lock);
    int16 err = lookup(hcam, &c);
    if (!err && (cam_state < 0 || cam_state > 6)) err = PL_ERR_INVALID_PARAMETER;
    else if (!err && !c->started) err = PL_ERR_ACQUISITION_NOT_RUNNING;
    else if (!err) stop_locked(c);
    pthread_mutex_unlock(&g_lock);
    return err ? fail(err) : ok();
}

/* ---------------------------------------------------------------------------------------- */
/* Test switches (not PVCAM)                                                                  */

EXPORT int fake_pvcam_set(const char *key, double value) {
    if (!key) return -1;
    for (int s = 0; s < S_COUNT; s++) {
        if (strcmp(g_settings[s].key, key) == 0) {
            pthread_mutex_lock(&g_lock);
            g_settings[s].value = value;
            g_settings[s].set = 1;
            pthread_mutex_unlock(&g_lock);
            return 0;
        }
    }
    return -1;
}

/* A setting, a counter or a layout fact by name; NaN for an unknown key. */
/* When frame `nr` was complete, in ms on CLOCK_MONOTONIC (the clock of Node's process.hrtime). */
EXPORT double fake_pvcam_frame_eof_ms(uint32_t nr) {
    pthread_mutex_lock(&g_lock);
    const double t = g_eof_ms[nr & 0xffff];
    pthread_mutex_unlock(&g_lock);
    return t;
}

EXPORT double fake_pvcam_get(const char *key) {
    if (!key) return __builtin_nan("");
    double r = __builtin_nan("");
    pthread_mutex_lock(&g_lock);
    int open = 0, acquiring = 0;
    for (int i = 0; i < MAX_CAM; i++) {
        open += g_cams[i].open;
        acquiring += g_cams[i].started && g_cams[i].thread_live && !g_cams[i].failed;
    }
    for (int s = 0; s < S_COUNT; s++)
        if (strcmp(g_settings[s].key, key) == 0) r = g_settings[s].value;
    if (!strcmp(key, "frames_generated")) r = (double)g_frames_generated;
    else if (!strcmp(key, "frames_lost")) r = (double)g_frames_lost;
    else if (!strcmp(key, "frames_lost_sensor")) r = (double)g_frames_lost_sensor;
    else if (!strcmp(key, "frames_overwritten")) r = (double)g_frames_overwritten;
    else if (!strcmp(key, "initialized")) r = g_init;
    else if (!strcmp(key, "open_cameras")) r = open;
    else if (!strcmp(key, "acquiring")) r = acquiring;
    else if (!strcmp(key, "threads_alive")) r = g_threads_alive;
    else if (!strcmp(key, "sensor_rt_ok")) r = g_sensor_rt_ok;
    else if (!strcmp(key, "frame_info_structs")) r = g_frame_info_structs;
    else if (!strcmp(key, "last_exp_res")) r = g_last_exp_res;
    else if (!strcmp(key, "last_exposure")) r = g_last_exposure;
    else if (!strcmp(key, "last_exp_mode")) r = g_last_exp_mode;
    else if (!strcmp(key, "last_buffer_mode")) r = g_last_buffer_mode;
    else if (!strcmp(key, "sizeof_frame_info")) r = (double)sizeof(FRAME_INFO);
    else if (!strcmp(key, "offsetof_frame_nr")) r = (double)offsetof(FRAME_INFO, FrameNr);
    pthread_mutex_unlock(&g_lock);
    return r;
}

/* Stops every acquisition, closes every camera, uninitialises, and restores every default. */
EXPORT void fake_pvcam_reset(void) {
    pthread_mutex_lock(&g_lock);
    ensure_conds();
    for (int i = 0; i < MAX_CAM; i++)
        if (g_cams[i].open) close_locked(&g_cams[i]);
    g_init = 0;
    for (int s = 0; s < S_COUNT; s++) {
        g_settings[s].value = g_settings[s].def;
        g_settings[s].set = 0;
    }
    g_frames_generated = g_frames_lost = g_frames_lost_sensor = g_frames_overwritten = 0;
    g_last_exp_res = g_last_exposure = g_last_exp_mode = g_last_buffer_mode = -1;
    pthread_mutex_unlock(&g_lock);
    t_err = PL_ERR_NONE;
}

/* Settings start at their defaults (the initializers above only name them). */
__attribute__((constructor)) static void fake_pvcam_load(void) {
    for (int s = 0; s < S_COUNT; s++) g_settings[s].value = g_settings[s].def;
}
