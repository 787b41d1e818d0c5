// Numbers from the PVCAM SDK's pvcam.h (Teledyne Photometrics; the header as shipped with
// PVCAM 3.x, also in Micro-Manager's PVCAM adapter and python-microscope). Confirmed against
// the header text, not guessed: the camera driver and the fake libpvcam its tests build both
// use these. Types: rs_bool = uns16 (0 = false), int16 camera handles, uns32 parameter ids.

/** Parameter classes and types, combined into ids as (CLASS << 16) + (TYPE << 24) + index. */
export const CLASS2 = 2;
export const CLASS3 = 3;
export const TYPE_INT16 = 1;
export const TYPE_INT32 = 2;
export const TYPE_FLT64 = 4;
export const TYPE_UNS8 = 5;
export const TYPE_UNS16 = 6;
export const TYPE_UNS32 = 7;
export const TYPE_ENUM = 9;
export const TYPE_BOOLEAN = 11;
export const TYPE_CHAR_PTR = 13;

const param = (cls: number, type: number, index: number) => ((cls << 16) + (type << 24) + index) >>> 0;

/** Y and X size of the sensor's active area (uns16). */
export const PARAM_PAR_SIZE = param(CLASS2, TYPE_UNS16, 57);
export const PARAM_SER_SIZE = param(CLASS2, TYPE_UNS16, 58);
/** Bit depth of the current speed-table entry (int16). */
export const PARAM_BIT_DEPTH = param(CLASS2, TYPE_INT16, 511);
/** Exposure time units (enum: EXP_RES_ONE_MILLISEC = 0, EXP_RES_ONE_MICROSEC, EXP_RES_ONE_SEC). */
export const PARAM_EXP_RES = param(CLASS3, TYPE_ENUM, 2);
export const PARAM_EXP_TIME = param(CLASS3, TYPE_UNS16, 1);
/** Exposure (trigger) modes the camera supports (enum); PVCAM 3.x pvcam.h. */
export const PARAM_EXPOSURE_MODE = param(CLASS2, TYPE_ENUM, 535);
/** Expose-out modes (enum), OR-ed into the extended exposure modes; PVCAM 3.x pvcam.h. */
export const PARAM_EXPOSE_OUT_MODE = param(CLASS2, TYPE_ENUM, 560);

/** PL_EXP_RES_MODES: the unit of pl_exp_setup_cont's exposure_time (PARAM_EXP_RES values). */
export const EXP_RES_ONE_MILLISEC = 0;
export const EXP_RES_ONE_MICROSEC = 1;
export const EXP_RES_ONE_SEC = 2;

/** pl_get_param attributes (int16). */
export const ATTR = {
  CURRENT: 0,
  COUNT: 1,
  TYPE: 2,
  MIN: 3,
  MAX: 4,
  DEFAULT: 5,
  INCREMENT: 6,
  ACCESS: 7,
  AVAIL: 8,
} as const;

/**
 * What pl_get_param writes for each attribute: ATTR_AVAIL an rs_bool (uns16), ATTR_COUNT an uns32,
 * ATTR_TYPE and ATTR_ACCESS an uns16, the others a value of the parameter's own type (TYPE_ENUM
 * values are int32). Per python-microscope's pvcam.py (_attr_map, _typemap).
 */
export const ATTR_RESULT_BYTES = { AVAIL: 2, COUNT: 4, TYPE: 2, ACCESS: 2, ENUM: 4 } as const;

/** pl_cam_open mode. */
export const OPEN_EXCLUSIVE = 0;
/** Exposure modes for pl_exp_setup_cont (int16). */
export const TIMED_MODE = 0;
/**
 * Extended exposure mode of sCMOS cameras (Prime BSI, Kinetix), which do not list TIMED_MODE:
 * pvcam.h defines EXT_TRIG_INTERNAL = (7 + 0) << 8, to be OR-ed with an expose-out mode.
 */
export const EXT_TRIG_INTERNAL = (7 + 0) << 8;
/** Circular buffer modes for pl_exp_setup_cont (int16). */
export const CIRC_NONE = 0;
export const CIRC_OVERWRITE = 1;
export const CIRC_NO_OVERWRITE = 2;
/** pl_exp_check_cont_status statuses (int16); READOUT_COMPLETE = FRAME_AVAILABLE. */
export const READOUT_NOT_ACTIVE = 0;
export const EXPOSURE_IN_PROGRESS = 1;
export const READOUT_IN_PROGRESS = 2;
export const READOUT_COMPLETE = 3;
export const READOUT_FAILED = 4;
export const ACQUISITION_IN_PROGRESS = 5;
/** pl_exp_stop_cont / pl_exp_abort camera states (int16). */
export const CCS_NO_CHANGE = 0;
export const CCS_HALT = 1;

export const CAM_NAME_LEN = 32;
export const ERROR_MSG_LEN = 255;

/**
 * rgn_type { uns16 s1, s2, sbin, p1, p2, pbin }: serial (x) and parallel (y) first and last
 * pixel, inclusive, with binning.
 */
export const RGN_TYPE_FIELDS = ['s1', 's2', 'sbin', 'p1', 'p2', 'pbin'] as const;

/**
 * FRAME_INFO (pl_exp_check_cont_status_ex, pl_exp_get_latest_frame_ex): GUID {uns32, uns16,
 * uns16, uns8[8]}, int16 hCam, int32 FrameNr, long64 TimeStamp, int32 ReadoutTime, long64
 * TimeStampBOF. FrameNr counts from 1 and exposes frames lost at the source.
 */
export const FRAME_INFO_FIELDS = ['FrameInfoGUID', 'hCam', 'FrameNr', 'TimeStamp', 'ReadoutTime', 'TimeStampBOF'] as const;
