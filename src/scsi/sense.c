/* segmap: SCSI sense data, fixed and descriptor format (SPC-4 §4.5).
 *
 * Fixed format (18 bytes):
 *   0 VALID|0x70  2 sense key  3-6 INFORMATION  7 additional length (10)
 *   12 ASC  13 ASCQ  15-17 sense-key specific (SKSV in bit 7 of 15)
 *
 * Descriptor format (8-byte header, then descriptors):
 *   0 0x72  1 sense key  2 ASC  3 ASCQ  7 additional length
 *   Information descriptor:       00 0a 80 00 <8-byte INFORMATION>
 *   Sense key specific descriptor: 02 06 00 00 <3 bytes> 00
 *
 * A 64-bit INFORMATION that does not fit the fixed format's 4 bytes is
 * left out there (VALID = 0), as SPC-4 requires.
 */
#include <config.h>

#include <string.h>

#include "common/be.h"
#include "common/cleanup.h"
#include "scsi/sense.h"

void
scsi_sense_set (struct scsi_sense *s, uint8_t key, uint16_t asc_ascq)
{
  memset (s, 0, sizeof *s);
  s->key = key & 0xf;
  s->asc = asc_ascq >> 8;
  s->ascq = asc_ascq & 0xff;
}

void
scsi_sense_set_field (struct scsi_sense *s, uint16_t asc_ascq, bool in_cdb,
                      uint16_t byte, int bit)
{
  scsi_sense_set (s, SCSI_SK_ILLEGAL_REQUEST, asc_ascq);
  s->sks_valid = true;
  s->sks[0] = 0x80 | (in_cdb ? 0x40 : 0);       /* SKSV, C/D */
  if (bit >= 0 && bit <= 7)
    s->sks[0] |= 0x08 | bit;                    /* BPV, BIT POINTER */
  s->sks[1] = byte >> 8;
  s->sks[2] = byte & 0xff;
}

void
scsi_sense_set_info (struct scsi_sense *s, uint64_t info)
{
  s->info_valid = true;
  s->info = info;
}

static size_t
build_fixed (const struct scsi_sense *s, uint8_t *buf)
{
  memset (buf, 0, SCSI_SENSE_FIXED_LEN);
  buf[0] = 0x70;
  if (s->info_valid && s->info <= UINT32_MAX) {
    buf[0] |= 0x80;
    put_be (&buf[3], 4, s->info);
  }
  buf[2] = s->key & 0xf;
  buf[7] = SCSI_SENSE_FIXED_LEN - 8;
  buf[12] = s->asc;
  buf[13] = s->ascq;
  if (s->sks_valid)
    memcpy (&buf[15], s->sks, 3);
  return SCSI_SENSE_FIXED_LEN;
}

static size_t
descriptor_len (const struct scsi_sense *s)
{
  return 8 + (s->info_valid ? 12 : 0) + (s->sks_valid ? 8 : 0);
}

static size_t
build_descriptor (const struct scsi_sense *s, uint8_t *buf)
{
  size_t n = descriptor_len (s), off = 8;

  memset (buf, 0, n);
  buf[0] = 0x72;
  buf[1] = s->key & 0xf;
  buf[2] = s->asc;
  buf[3] = s->ascq;
  buf[7] = n - 8;
  if (s->info_valid) {
    buf[off] = 0x00;
    buf[off + 1] = 0x0a;
    buf[off + 2] = 0x80;                        /* VALID */
    put_be (&buf[off + 4], 8, s->info);
    off += 12;
  }
  if (s->sks_valid) {
    buf[off] = 0x02;
    buf[off + 1] = 0x06;
    memcpy (&buf[off + 4], s->sks, 3);
  }
  return n;
}

size_t
scsi_sense_build (const struct scsi_sense *s, bool descriptor, uint8_t *buf,
                  size_t len)
{
  if (descriptor)
    return len < descriptor_len (s) ? 0 : build_descriptor (s, buf);
  return len < SCSI_SENSE_FIXED_LEN ? 0 : build_fixed (s, buf);
}

static int
parse_fixed (const uint8_t *buf, size_t len, struct scsi_sense *s)
{
  size_t end = 8 + (size_t) buf[7];

  if (end > len)
    end = len;
  if (end < 14)                 /* no ASC/ASCQ */
    return -1;
  s->key = buf[2] & 0xf;
  s->asc = buf[12];
  s->ascq = buf[13];
  if (buf[0] & 0x80)
    scsi_sense_set_info (s, get_be (&buf[3], 4));
  if (end >= 18 && (buf[15] & 0x80)) {
    s->sks_valid = true;
    memcpy (s->sks, &buf[15], 3);
  }
  return 0;
}

static void
parse_descriptor_item (const uint8_t *d, struct scsi_sense *s)
{
  if (d[0] == 0x00 && d[1] == 0x0a && (d[2] & 0x80))
    scsi_sense_set_info (s, get_be (&d[4], 8));
  else if (d[0] == 0x02 && d[1] == 0x06 && (d[4] & 0x80)) {
    s->sks_valid = true;
    memcpy (s->sks, &d[4], 3);
  }
}

static int
parse_descriptor (const uint8_t *buf, size_t len, struct scsi_sense *s)
{
  size_t end = 8 + (size_t) buf[7], off = 8;

  if (end > len)
    end = len;
  s->key = buf[1] & 0xf;
  s->asc = buf[2];
  s->ascq = buf[3];
  while (off + 2 <= end && off + 2 + buf[off + 1] <= end) {
    parse_descriptor_item (&buf[off], s);
    off += 2 + buf[off + 1];
  }
  return 0;
}

int
scsi_sense_parse (const uint8_t *buf, size_t len, struct scsi_sense *s)
{
  memset (s, 0, sizeof *s);
  if (len < 8)
    return -1;
  switch (buf[0] & 0x7f) {
  case 0x70: case 0x71:
    return parse_fixed (buf, len, s);
  case 0x72: case 0x73:
    return parse_descriptor (buf, len, s);
  default:
    return -1;
  }
}

const char *
scsi_sense_key_to_string (uint8_t key)
{
  static const char *const names[16] = {
    "NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR",
    "HARDWARE ERROR", "ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT",
    "BLANK CHECK", "VENDOR SPECIFIC", "COPY ABORTED", "ABORTED COMMAND",
    "reserved sense key", "VOLUME OVERFLOW", "MISCOMPARE", "COMPLETED",
  };

  return key < 16 ? names[key] : "invalid sense key";
}

static const struct {
  uint16_t code;
  const char *name;
} asc_names[] = {
  { SCSI_ASC_NO_ADDITIONAL_SENSE, "NO ADDITIONAL SENSE INFORMATION" },
  { SCSI_ASC_LU_NOT_READY, "LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE" },
  { SCSI_ASC_LU_BECOMING_READY,
    "LOGICAL UNIT IS IN PROCESS OF BECOMING READY" },
  { SCSI_ASC_LU_COMMUNICATION_FAILURE, "LOGICAL UNIT COMMUNICATION FAILURE" },
  { SCSI_ASC_WRITE_ERROR, "WRITE ERROR" },
  { SCSI_ASC_UNRECOVERED_READ_ERROR, "UNRECOVERED READ ERROR" },
  { SCSI_ASC_PARAMETER_LIST_LENGTH_ERROR, "PARAMETER LIST LENGTH ERROR" },
  { SCSI_ASC_MISCOMPARE_DURING_VERIFY,
    "MISCOMPARE DURING VERIFY OPERATION" },
  { SCSI_ASC_INVALID_COMMAND_OPCODE, "INVALID COMMAND OPERATION CODE" },
  { SCSI_ASC_LBA_OUT_OF_RANGE, "LOGICAL BLOCK ADDRESS OUT OF RANGE" },
  { SCSI_ASC_INVALID_FIELD_IN_CDB, "INVALID FIELD IN CDB" },
  { SCSI_ASC_LU_NOT_SUPPORTED, "LOGICAL UNIT NOT SUPPORTED" },
  { SCSI_ASC_INVALID_FIELD_IN_PARAMETER_LIST,
    "INVALID FIELD IN PARAMETER LIST" },
  { SCSI_ASC_INVALID_RELEASE_OF_PR,
    "INVALID RELEASE OF PERSISTENT RESERVATION" },
  { SCSI_ASC_WRITE_PROTECTED, "WRITE PROTECTED" },
  { SCSI_ASC_SPACE_ALLOCATION_FAILED,
    "SPACE ALLOCATION FAILED WRITE PROTECT" },
  { SCSI_ASC_POWER_ON_RESET,
    "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED" },
  { SCSI_ASC_BUS_DEVICE_RESET, "BUS DEVICE RESET FUNCTION OCCURRED" },
  { SCSI_ASC_PARAMETERS_CHANGED, "PARAMETERS CHANGED" },
  { SCSI_ASC_MODE_PARAMETERS_CHANGED, "MODE PARAMETERS CHANGED" },
  { SCSI_ASC_RESERVATIONS_PREEMPTED, "RESERVATIONS PREEMPTED" },
  { SCSI_ASC_RESERVATIONS_RELEASED, "RESERVATIONS RELEASED" },
  { SCSI_ASC_REGISTRATIONS_PREEMPTED, "REGISTRATIONS PREEMPTED" },
  { SCSI_ASC_CAPACITY_DATA_CHANGED, "CAPACITY DATA HAS CHANGED" },
  { SCSI_ASC_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR,
    "COMMANDS CLEARED BY ANOTHER INITIATOR" },
  { SCSI_ASC_THIN_PROVISIONING_SOFT_THRESHOLD,
    "THIN PROVISIONING SOFT THRESHOLD REACHED" },
  { SCSI_ASC_SAVING_PARAMETERS_NOT_SUPPORTED,
    "SAVING PARAMETERS NOT SUPPORTED" },
  { SCSI_ASC_MEDIUM_NOT_PRESENT, "MEDIUM NOT PRESENT" },
  { SCSI_ASC_REPORTED_LUNS_DATA_CHANGED, "REPORTED LUNS DATA HAS CHANGED" },
  { SCSI_ASC_INTERNAL_TARGET_FAILURE, "INTERNAL TARGET FAILURE" },
  { SCSI_ASC_INVALID_MESSAGE_ERROR, "INVALID MESSAGE ERROR" },
  { SCSI_ASC_OVERLAPPED_COMMANDS, "OVERLAPPED COMMANDS ATTEMPTED" },
  { SCSI_ASC_INSUFFICIENT_REGISTRATION_RESOURCES,
    "INSUFFICIENT REGISTRATION RESOURCES" },
};

const char *
scsi_asc_to_string (uint8_t asc, uint8_t ascq)
{
  uint16_t code = asc << 8 | ascq;
  size_t i;

  for (i = 0; i < ARRAY_SIZE (asc_names); i++)
    if (asc_names[i].code == code)
      return asc_names[i].name;
  return "unknown additional sense code";
}

const char *
scsi_status_to_string (uint8_t status)
{
  switch (status) {
  case SCSI_STATUS_GOOD: return "GOOD";
  case SCSI_STATUS_CHECK_CONDITION: return "CHECK CONDITION";
  case SCSI_STATUS_CONDITION_MET: return "CONDITION MET";
  case SCSI_STATUS_BUSY: return "BUSY";
  case SCSI_STATUS_RESERVATION_CONFLICT: return "RESERVATION CONFLICT";
  case SCSI_STATUS_TASK_SET_FULL: return "TASK SET FULL";
  case SCSI_STATUS_ACA_ACTIVE: return "ACA ACTIVE";
  case SCSI_STATUS_TASK_ABORTED: return "TASK ABORTED";
  default: return "unknown status";
  }
}
