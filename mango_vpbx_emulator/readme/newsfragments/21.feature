The emulator sends SMS: `commands/sms` (3100 for a text over four parts), `result/sms` and,
after a delay, `events/sms`, with refusals and delivery failures chosen for every SMS or per
recipient (`POST /control/config {"sms": ...}`); `GET /control/sms` lists the SMS sent.
