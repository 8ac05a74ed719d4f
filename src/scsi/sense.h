/* segmap: SCSI sense data (SPC-4 §4.5) -- build and parse.
 *
 * Groundwork for a future iSCSI target; nothing in segmap uses it yet.
 *
 * struct scsi_sense says what went wrong independently of the wire
 * format: sense key, additional sense code and qualifier, optionally
 * the INFORMATION field (e.g. the first bad LBA) and the sense-key
 * specific bytes (for ILLEGAL REQUEST: a pointer to the bad field of
 * the CDB or parameter list).  scsi_sense_build writes it in fixed
 * (0x70) or descriptor (0x72) format, whichever the initiator asked for
 * (the D_SENSE bit of the Control mode page).
 *
 * This is the single sense builder of the SCSI layer: every CHECK
 * CONDITION goes through scsi_sense_set and friends.
 */
#ifndef SEGMAP_SCSI_SENSE_H
#define SEGMAP_SCSI_SENSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCSI_SENSE_FIXED_LEN 18
#define SCSI_SENSE_MAX       252        /* SPC-4: sense data fits 252 bytes */

/* SCSI status codes (SAM-5). */
enum scsi_status {
  SCSI_STATUS_GOOD = 0x00,
  SCSI_STATUS_CHECK_CONDITION = 0x02,
  SCSI_STATUS_CONDITION_MET = 0x04,
  SCSI_STATUS_BUSY = 0x08,
  SCSI_STATUS_RESERVATION_CONFLICT = 0x18,
  SCSI_STATUS_TASK_SET_FULL = 0x28,
  SCSI_STATUS_ACA_ACTIVE = 0x30,
  SCSI_STATUS_TASK_ABORTED = 0x40,
};

enum scsi_sense_key {
  SCSI_SK_NO_SENSE = 0x0, SCSI_SK_RECOVERED_ERROR = 0x1,
  SCSI_SK_NOT_READY = 0x2, SCSI_SK_MEDIUM_ERROR = 0x3,
  SCSI_SK_HARDWARE_ERROR = 0x4, SCSI_SK_ILLEGAL_REQUEST = 0x5,
  SCSI_SK_UNIT_ATTENTION = 0x6, SCSI_SK_DATA_PROTECT = 0x7,
  SCSI_SK_BLANK_CHECK = 0x8, SCSI_SK_VENDOR_SPECIFIC = 0x9,
  SCSI_SK_COPY_ABORTED = 0xa, SCSI_SK_ABORTED_COMMAND = 0xb,
  SCSI_SK_VOLUME_OVERFLOW = 0xd, SCSI_SK_MISCOMPARE = 0xe,
  SCSI_SK_COMPLETED = 0xf,
};

/* Additional sense code and qualifier, as (ASC << 8) | ASCQ. */
enum scsi_asc {
  SCSI_ASC_NO_ADDITIONAL_SENSE = 0x0000,
  SCSI_ASC_LU_NOT_READY = 0x0400,
  SCSI_ASC_LU_BECOMING_READY = 0x0401,
  SCSI_ASC_LU_COMMUNICATION_FAILURE = 0x0800,
  SCSI_ASC_WRITE_ERROR = 0x0c00,
  SCSI_ASC_UNRECOVERED_READ_ERROR = 0x1100,
  SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR = 0x1a00,
  SCSI_ASC_MISCOMPARE_DURING_VERIFY = 0x1d00,
  SCSI_ASC_INVALID_COMMAND_OPCODE = 0x2000,
  SCSI_ASC_LBA_OUT_OF_RANGE = 0x2100,
  SCSI_ASC_INVALID_FIELD_IN_CDB = 0x2400,
  SCSI_ASC_LU_NOT_SUPPORTED = 0x2500,
  SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST = 0x2600,
  SCSI_ASC_INVALID_RELEASE_OF_PR = 0x2604,
  SCSI_ASC_WRITE_PROTECTED = 0x2700,
  SCSI_ASC_SPACE_ALLOCATION_FAILED = 0x2707,
  SCSI_ASC_POWER_ON_RESET = 0x2900,
  SCSI_ASC_BUS_DEVICE_RESET = 0x2903,
  SCSI_ASC_PARAMETERS_CHANGED = 0x2a00,
  SCSI_ASC_MODE_PARAMETERS_CHANGED = 0x2a01,
  SCSI_ASC_RESERVATIONS_PREEMPTED = 0x2a03,
  SCSI_ASC_RESERVATIONS_RELEASED = 0x2a04,
  SCSI_ASC_REGISTRATIONS_PREEMPTED = 0x2a05,
  SCSI_ASC_CAPACITY_DATA_CHANGED = 0x2a09,
  SCSI_ASC_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR = 0x2f00,
  SCSI_ASC_SAVING_PARAMETERS_NOT_SUPPORTED = 0x3900,
  SCSI_ASC_MEDIUM_NOT_PRESENT = 0x3a00,
  SCSI_ASC_THIN_PROVISIONING_SOFT_THRESHOLD = 0x3807,
  SCSI_ASC_REPORTED_LUNS_DATA_CHANGED = 0x3f0e,
  SCSI_ASC_INTERNAL_TARGET_FAILURE = 0x4400,
  SCSI_ASC_INVALID_MESSAGE_ERROR = 0x4900,
  SCSI_ASC_OVERLAPPED_COMMANDS = 0x4e00,
  SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES = 0x5504,
};

struct scsi_sense {
  uint8_t key;                  /* enum scsi_sense_key */
  uint8_t asc, ascq;
  bool info_valid;
  uint64_t info;                /* INFORMATION */
  bool sks_valid;
  uint8_t sks[3];               /* sense-key specific bytes (SKSV set) */
};

/* Set *S to KEY / ASC_ASCQ, no information, no sense-key specific. */
void scsi_sense_set (struct scsi_sense *s, uint8_t key, uint16_t asc_ascq);

/* ILLEGAL REQUEST + ASC_ASCQ with a field pointer: byte BYTE of the CDB
 * (IN_CDB) or of the parameter list, and BIT (0-7, or -1 when the
 * whole byte/field is meant). */
void scsi_sense_set_field (struct scsi_sense *s, uint16_t asc_ascq,
                           bool in_cdb, uint16_t byte, int bit);

/* Attach INFORMATION (e.g. the LBA) to *S. */
void scsi_sense_set_info (struct scsi_sense *s, uint64_t info);

/* Write S in descriptor (DESCRIPTOR) or fixed format into BUF.
 * Returns the length (18 for fixed, 8-28 for descriptor), or 0 if LEN
 * is too small. */
size_t scsi_sense_build (const struct scsi_sense *s, bool descriptor,
                         uint8_t *buf, size_t len);

/* Parse fixed (0x70/0x71) or descriptor (0x72/0x73) sense data.
 * Returns 0, or -1 if BUF is not sense data. */
int scsi_sense_parse (const uint8_t *buf, size_t len, struct scsi_sense *s);

const char *scsi_sense_key_to_string (uint8_t key);
/* Name of ASC/ASCQ, e.g. "INVALID FIELD IN CDB"; "unknown ..." if not
 * in our table. */
const char *scsi_asc_to_string (uint8_t asc, uint8_t ascq);
const char *scsi_status_to_string (uint8_t status);

#endif /* SEGMAP_SCSI_SENSE_H */
