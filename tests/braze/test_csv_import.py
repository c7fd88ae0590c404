"""POST /_admin/users/import: Braze's CSV user import rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from .braze_fixtures import BrazeEnv


def upload(braze: BrazeEnv, text: str, status: int = 201) -> dict:
    response = braze.client.post("/_admin/users/import", data=text.encode("utf-8"),
                                 headers={"Content-Type": "text/csv"})
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_external_id_rows_create_then_update(braze):
    report = upload(braze, "external_id,first_name\nu1,Ann\nu2,Bo\n")
    assert report == {"rows": 2, "imported": 2, "created": 2, "updated": 0, "dropped": 0, "errors": []}
    report = upload(braze, "external_id,last_name\nu1,Lee\nu3,New\n")
    assert (report["created"], report["updated"]) == (1, 1)
    assert (braze.profile("u1")["first_name"], braze.profile("u1")["last_name"]) == ("Ann", "Lee")


def test_default_headers_match_exactly_other_case_is_custom(braze):
    upload(braze, "external_id,first_name,First_Name,COUNTRY\nu1,Ann,Custom,xx\n")
    profile = braze.profile("u1")
    assert profile["first_name"] == "Ann"
    assert profile["custom_attributes"] == {"First_Name": "Custom", "COUNTRY": "xx"}
    assert "country" not in profile


def test_unquoted_values_are_typed_quoted_stay_strings(braze):
    report = upload(braze, 'external_id,b,f,i,neg,fl,exp,word,qb,qi,qf,date\n'
                           'u1,true,false,42,-7,1.5,1e3,hello,"true","42","1.5",2024-05-06\n')
    assert report["errors"] == []
    custom = braze.stored("u1").custom
    assert custom["b"] is True and custom["f"] is False
    assert custom["i"] == 42 and isinstance(custom["i"], int)
    assert custom["neg"] == -7
    assert custom["fl"] == 1.5 and isinstance(custom["fl"], float)
    assert custom["exp"] == 1000.0 and isinstance(custom["exp"], float)
    assert custom["word"] == "hello"
    assert custom["qb"] == "true" and custom["qi"] == "42" and custom["qf"] == "1.5"
    assert custom["date"] == "2024-05-06"


def test_unquoted_iso_8601_cells_become_times(braze):
    report = upload(braze, "external_id,seen,tier\nu1,2024-05-06T07:08:09Z,gold\nu2,2024-05-06T09:08:09+02:00,x\n")
    assert report["errors"] == []
    assert report["imported"] == 2
    assert braze.stored("u1").custom["seen"] == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert braze.stored("u2").custom["seen"] == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_a_quoted_iso_8601_cell_stays_a_string(braze):
    report = upload(braze, 'external_id,code\nu1,"2024-05-06T07:08:09Z"\n')
    assert report["imported"] == 1
    assert braze.stored("u1").custom["code"] == "2024-05-06T07:08:09Z"


def test_true_and_false_are_lower_case_only(braze):
    upload(braze, "external_id,a,b\nu1,TRUE,False\n")
    assert braze.stored("u1").custom == {"a": "TRUE", "b": "False"}


def test_quoted_cells_keep_commas_quotes_and_newlines(braze):
    upload(braze, 'external_id,note\nu1,"a, ""quoted"" text\nover two lines"\n')
    assert braze.stored("u1").custom["note"] == 'a, "quoted" text\nover two lines'


def test_blank_cells_keep_existing_values(braze):
    upload(braze, "external_id,first_name,tier,score\nu1,Ann,gold,5\n")
    report = upload(braze, 'external_id,first_name,tier,score\nu1,,"",6\n')
    assert report["updated"] == 1
    profile = braze.profile("u1")
    assert profile["first_name"] == "Ann"
    assert profile["custom_attributes"] == {"tier": "gold", "score": 6}


def test_rows_of_the_wrong_width_are_dropped_by_line(braze):
    text = "external_id,first_name,tier\nu1,Ann,gold\nu2,Bo\nu3,Cy,silver,extra\nu4,Di,bronze\n"
    report = upload(braze, text)
    assert report["rows"] == 4
    assert (report["imported"], report["created"], report["dropped"]) == (2, 2, 2)
    assert [e["line"] for e in report["errors"]] == [3, 4]
    assert "3" in report["errors"][0]["reason"] and "2" in report["errors"][0]["reason"]
    assert braze.profile("u2") is None and braze.profile("u3") is None
    assert braze.profile("u4")["first_name"] == "Di"


def test_a_multi_line_quoted_cell_shifts_the_line_numbers(braze):
    text = ('external_id,note\n'          # line 1
            'u1,"first\nsecond\nthird"\n'  # lines 2-4
            'u2\n'                       # line 5: too short
            'u3,"x\ny"\n'                 # lines 6-7
            'u4,a,b\n')                  # line 8: too long
    report = upload(braze, text)
    assert [e["line"] for e in report["errors"]] == [5, 8]
    assert braze.stored("u1").custom["note"] == "first\nsecond\nthird"
    assert braze.stored("u3").custom["note"] == "x\ny"


def test_crlf_line_endings_and_blank_lines(braze):
    report = upload(braze, "external_id,first_name\r\nu1,Ann\r\n\r\nu2,Bo,x\r\n")
    assert report["imported"] == 1
    assert [e["line"] for e in report["errors"]] == [4]


@pytest.mark.parametrize(("column", "value", "word"), [
    ("gender", "X", "gender"), ("country", "ZZ", "country"), ("dob", "1990-13-01", "dob"),
    ("email", "not-an-email", "email"), ("time_zone", "Mars/Base", "time_zone"), ("language", "zz", "language"),
    ("email_subscribe", "maybe", "email_subscribe"), ("first_name", "x" * 256, "first_name"),
])
def test_invalid_default_values_drop_the_row_with_a_reason(braze, column, value, word):
    report = upload(braze, f"external_id,{column},tier\nu1,{value},gold\nu2,,silver\n")
    assert report["imported"] == 1
    assert report["dropped"] == 1
    (error,) = report["errors"]
    assert error["line"] == 2
    assert word in error["reason"]
    assert braze.profile("u1") is None
    assert braze.profile("u2")["custom_attributes"] == {"tier": "silver"}


def test_valid_default_values_are_stored(braze):
    upload(braze, "external_id,gender,country,dob,email,time_zone,language,email_subscribe\n"
                  "u1,F,no,1990-02-28,a@b.co,Europe/Oslo,NB,opted_in\n")
    profile = braze.profile("u1")
    assert {k: profile[k] for k in ("gender", "country", "dob", "email", "time_zone", "language",
                                    "email_subscribe")} == {
        "gender": "F", "country": "NO", "dob": "1990-02-28", "email": "a@b.co", "time_zone": "Europe/Oslo",
        "language": "nb", "email_subscribe": "opted_in"}


def test_custom_strings_over_255_drop_the_row(braze):
    report = upload(braze, f"external_id,note\nu1,{'n' * 256}\nu2,{'n' * 255}\n")
    assert [e["line"] for e in report["errors"]] == [2]
    assert braze.profile("u2") is not None


@pytest.mark.parametrize("text", ["first_name,tier\nAnn,gold\n", "user_alias_label,x\ncrm,1\n", "", "\n"])
def test_missing_identifier_column_or_header_is_400(braze, text):
    body = upload(braze, text, status=400)
    assert body["message"]
    assert braze.client.get("/_admin/users").get_json()["total"] == 0


def test_alias_name_needs_a_label_column(braze):
    assert "user_alias_label" in upload(braze, "user_alias_name,x\na,1\n", status=400)["message"]


def test_duplicate_header_is_400(braze):
    upload(braze, "external_id,tier,tier\nu1,a,b\n", status=400)


def test_non_utf8_is_400(braze):
    response = braze.client.post("/_admin/users/import", data="external_id,name\nu1,Jos\xe9\n".encode("latin-1"),
                                 content_type="text/csv")
    assert response.status_code == 400


def test_alias_columns_create_and_update(braze):
    report = upload(braze, "user_alias_name,user_alias_label,tier\na1,crm,gold\n")
    assert report["created"] == 1
    report = upload(braze, "user_alias_name,user_alias_label,tier\na1,crm,silver\n")
    assert report["updated"] == 1
    users = braze.client.get("/_admin/users").get_json()
    assert users["total"] == 1
    assert users["users"][0]["user_aliases"] == [{"alias_name": "a1", "alias_label": "crm"}]
    assert users["users"][0]["custom_attributes"] == {"tier": "silver"}


def test_braze_id_column_updates_but_never_creates(braze):
    braze.users("u1")
    braze_id = braze.profile("u1")["braze_id"]
    report = upload(braze, f"braze_id,tier\n{braze_id},gold\n000000000000000000000000,silver\n")
    assert (report["imported"], report["updated"], report["created"]) == (1, 1, 0)
    assert [e["line"] for e in report["errors"]] == [3]
    assert braze.profile("u1")["custom_attributes"] == {"tier": "gold"}
    assert braze.client.get("/_admin/users").get_json()["total"] == 1


def test_email_and_phone_columns_identify(braze):
    report = upload(braze, "email,first_name\nann@example.com,Ann\n")
    assert report["created"] == 1
    report = upload(braze, "email,last_name\nANN@example.com,Lee\n")
    assert report["updated"] == 1
    report = upload(braze, "phone,first_name\n+15551234567,Phil\n")
    assert report["created"] == 1
    names = sorted(u.get("first_name") for u in braze.client.get("/_admin/users").get_json()["users"])
    assert names == ["Ann", "Phil"]


def test_a_row_without_an_identifier_value_is_dropped(braze):
    report = upload(braze, "external_id,tier\n,gold\nu1,silver\n")
    assert [e["line"] for e in report["errors"]] == [2]
    assert report["imported"] == 1


def test_imported_attributes_feed_segments(braze):
    upload(braze, "external_id,vip,points\nu1,true,10\nu2,\"true\",20\n")
    response = braze.client.post("/_admin/segments", json={"name": "vips", "filter": {"custom_attribute": {
        "custom_attribute_name": "vip", "comparison": "equals", "value": True}}})
    assert response.status_code == 201
    assert braze.client.get("/_admin/segments/vips").get_json()["sample"] == ["u1"]
