"Ring me" is recorded like every PBX command (*Telephony ▸ PBX commands*, kind *Ring me (PBX
emulator)*): pending before the emulator is asked, then its outcome. (issue 19)
