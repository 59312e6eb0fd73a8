"""Official signature vectors (S3) and the recording-link vector (L1)."""

from urllib.parse import urlencode

import pytest

from mango_vpbx import encode, sign, verify
from mango_vpbx.signing import dumps, sign_recording_link

KEY, SALT = "<YOUR_API_KEY>", "<YOUR_API_SALT>"

VECTORS = [
    ('{"command_id":"your-command-id","from":{"extension":"<extension>","number":""},'
     '"to_number":"<to_number>"}',
     "afdeb462cd5e0e422a9c9220390124608df06a4472cb1add6ebd6e24184bd15a"),
    ('{"command_id":"your-command-id","call_id":"<CALL_ID>"}',
     "2d1d01246f52cec1fdb44f2a4d7091dc54f67e318369c0628201d66b5d336ef0"),
    ('{"date_from":"1445288400","date_to":"1445374859","from":{"extension":"","number":""},'
     '"to":{"extension":"","number":""}}',
     "94e263aa0aa65d77481b86e9224fa2230265faa387322e40716389406982c0fb"),
    ('{"key":"<REQUEST_KEY>"}',
     "515069b8c079df62f408e36dd7933912b8e86d833c5927ee77eb4b68d766c4f5"),
]


@pytest.mark.parametrize(("json_str", "expected"), VECTORS)
def test_official_vectors(json_str, expected):
    assert sign(KEY, json_str, SALT) == expected
    form = encode(json_str, KEY, SALT)
    assert form == {"vpbx_api_key": KEY, "sign": expected, "json": json_str}
    assert verify(form, KEY, SALT)


def test_dumps_reproduces_the_official_json():
    payload = {"command_id": "your-command-id", "from": {"extension": "<extension>", "number": ""},
               "to_number": "<to_number>"}
    assert dumps(payload) == VECTORS[0][0]
    assert encode(payload, KEY, SALT)["sign"] == VECTORS[0][1]


def test_official_urlencoded_body():
    body = urlencode(encode(VECTORS[0][0], KEY, SALT))
    expected = (
        "vpbx_api_key=%3CYOUR_API_KEY%3E&sign=afdeb462cd5e0e422a9c9220390124608df06a4472cb"
        "1add6ebd6e24184bd15a&json=%7B%22command_id%22%3A%22your-command-"
        "id%22%2C%22from%22%3A%7B%22extension%22%3A%22%3Cextension%3E%22%2C%22number%22%3A"
        "%22%22%7D%2C%22to_number%22%3A%22%3Cto_number%3E%22%7D"
    )
    assert body == expected


def test_recording_link_vector():
    assert sign_recording_link("123", 1525597727500, "Rofkdgl33fd=", "789") == (
        "9867bfdc661049959450fbad35c10ef2a41120094bda492dd0f085ba4def7df0")


@pytest.mark.parametrize("mutate", [
    lambda f: f.update(sign="0" * 64),
    lambda f: f.update(vpbx_api_key="other"),
    lambda f: f.update(json=f["json"] + " "),
    lambda f: f.pop("sign"),
    lambda f: f.update(json=None),
])
def test_verify_rejects_forgeries(mutate):
    form = encode(VECTORS[1][0], KEY, SALT)
    mutate(form)
    assert not verify(form, KEY, SALT)


def test_verify_needs_our_secrets():
    form = encode(VECTORS[1][0], KEY, SALT)
    assert not verify(form, KEY, "")
    assert not verify(form, "", SALT)
    assert verify({**form, "sign": form["sign"].upper()}, KEY, SALT)
