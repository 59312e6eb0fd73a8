SMS through the PBX: "Send SMS" on the patient, the appointment and the call, from translatable
templates with placeholders (date and time in the company's time zone), a preview of the length
and parts (4 at most), refused without the patient's SMS consent; every SMS is a PBX command
committed before it leaves and logged on the patient (pending, accepted or refused with the
PBX's code, delivered or failed from the delivery report); a PBX down or locked out gives a
failed SMS, never a sent one. Settings ▸ Telephony ▸ SMS: sender name, SMS extension for
automatic SMS, consent default.
