`mango_vpbx.sms`: an SMS text's length, parts and the PBX's four-part limit (`measure`,
`check_text`); `VpbxClient.sms` refuses a text the PBX would refuse (a 3xxx answer counts
towards the lockout); `SmsEvent.delivered`.
