"""Fidelity check: unmodified simple-salesforce against sf-sandbox.

Run by crates/sf-sandbox/tests/fidelity.rs with the sandbox serving HTTPS (simple-salesforce
only speaks https). Environment:
  SANDBOX_URL       https://127.0.0.1:PORT (login URL and instance URL)
  SANDBOX_CA        path of the sandbox's self-signed certificate (PEM) to trust
  SANDBOX_USERNAME, SANDBOX_PASSWORD, SANDBOX_TOKEN, SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

How it logs in: simple-salesforce's own login helpers build their URLs from
`https://{domain}.salesforce.com`, which cannot point at a local server. So the check
calls simple_salesforce.login.soap_login (the library's SOAP login, unmodified) with the
sandbox's SOAP URL, and also does the OAuth password grant by hand and hands
`session_id` + `instance_url` to `Salesforce(...)`, the way the library documents for
tokens obtained elsewhere. Exits non-zero on the first failed expectation.
"""

import datetime
import os
import sys
from urllib.parse import parse_qs, urlparse

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from simple_salesforce.login import soap_login

URL = os.environ["SANDBOX_URL"].rstrip("/")
CA = os.environ["SANDBOX_CA"]
USERNAME = os.environ["SANDBOX_USERNAME"]
PASSWORD = os.environ["SANDBOX_PASSWORD"]
TOKEN = os.environ["SANDBOX_TOKEN"]
CLIENT_ID = os.environ["SANDBOX_CLIENT_ID"]
CLIENT_SECRET = os.environ["SANDBOX_CLIENT_SECRET"]
VERSION = "59.0"


def check(condition, what):
    if not condition:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


session = requests.Session()
session.verify = CA

# --- auth: SOAP login through the library ---
soap_body = f"""<?xml version="1.0" encoding="utf-8" ?>
<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
        xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"
        xmlns:urn="urn:partner.soap.sforce.com">
    <env:Header><urn:CallOptions><urn:client>simple-salesforce</urn:client><urn:defaultNamespace>sf</urn:defaultNamespace></urn:CallOptions></env:Header>
    <env:Body>
        <n1:login xmlns:n1="urn:partner.soap.sforce.com">
            <n1:username>{USERNAME}</n1:username>
            <n1:password>{PASSWORD}{TOKEN}</n1:password>
        </n1:login>
    </env:Body>
</env:Envelope>"""
session_id, instance = soap_login(
    f"{URL}/services/Soap/u/{VERSION}", soap_body,
    {"content-type": "text/xml", "charset": "UTF-8", "SOAPAction": "login"}, None, session)
check(instance == URL.replace("https://", ""), "SOAP login answers the sandbox as the instance")
sf = Salesforce(session_id=session_id, instance=instance, session=session, version=VERSION)

# --- auth: OAuth password grant, token handed to the library ---
answer = session.post(f"{URL}/services/oauth2/token", data={
    "grant_type": "password", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    "username": USERNAME, "password": PASSWORD + TOKEN}).json()
sf_oauth = Salesforce(instance_url=answer["instance_url"], session_id=answer["access_token"],
                      session=session, version=VERSION)
check(sf_oauth.limits()["DailyApiRequests"]["Max"] > 0, "an OAuth token works through the library")

bad = session.post(f"{URL}/services/oauth2/token", data={
    "grant_type": "password", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    "username": USERNAME, "password": "wrong"})
check(bad.status_code == 400 and bad.json()["error"] == "invalid_grant", "a wrong password is invalid_grant")

# --- describe ---
describe = sf.Contact.describe()
names = {field["name"] for field in describe["fields"]}
check({"LastName", "MobilePhone", "AccountId"} <= names, "Contact describe lists its fields")
check(any(item["name"] == "Task" for item in sf.describe()["sobjects"]), "global describe lists Task")

# --- create, get, update ---
created = sf.Contact.create({"LastName": "山田", "FirstName": "花子", "Phone": "03-1234-5678"})
check(created["success"] and created["id"].startswith("003"), "create answers success and an 003 Id")
contact_id = created["id"]
check(sf.Contact.get(contact_id)["Name"] == "花子 山田", "get returns the computed Name")
status = sf.Contact.update(contact_id, {"MobilePhone": "090-1111-2222"})
check(status == 204, "update answers 204")
check(sf.Contact.get(contact_id)["MobilePhone"] == "090-1111-2222", "the update is visible")

# --- upsert by external id ---
added = session.post(f"{URL}/__sandbox/custom-fields", json={
    "object": "Contact", "name": "CallsyncKey__c", "label": "Callsync Key", "kind": {"ExternalIdText": {"length": 64}}})
check(added.status_code == 200, "the sandbox takes a custom external-id field")
check(sf.Contact.upsert("CallsyncKey__c/py-1", {"LastName": "Kato"}) == 201, "upsert creates with 201")
check(sf.Contact.upsert("CallsyncKey__c/py-1", {"LastName": "Kato", "Title": "CEO"}) == 200, "upsert updates with 200")
check(sf.Contact.get_by_custom_id("CallsyncKey__c", "py-1")["Title"] == "CEO", "get by external id")

# --- collections: 2,200 accounts in 11 calls of 200 ---
for batch in range(11):
    records = [{"attributes": {"type": "Account"}, "Name": f"Fidelity {batch}-{index}"} for index in range(200)]
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    check(len(results) == 200 and all(item["success"] for item in results), f"collection batch {batch} created")

too_many = [{"attributes": {"type": "Account"}, "Name": "x"}] * 201
try:
    sf.restful("composite/sobjects", method="POST", json={"records": too_many})
    check(False, "201 records are refused")
except SalesforceMalformedRequest as error:
    check(error.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT", "201 records are refused with EXCEEDED_ID_LIMIT")

# --- query with paging ---
first = sf.query("SELECT Id, Name FROM Account WHERE Name LIKE 'Fidelity%'")
check(first["totalSize"] == 2200 and not first["done"] and len(first["records"]) == 2000, "query answers the first 2,000")
everything = sf.query_all("SELECT Id, Name FROM Account WHERE Name LIKE 'Fidelity%' ORDER BY Name")
check(len(everything["records"]) == 2200, "query_all follows nextRecordsUrl to all 2,200")
since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
recent = sf.query_all(
    f"SELECT Id, SystemModstamp FROM Account WHERE Name LIKE 'Fidelity%' AND SystemModstamp > {since}",
    include_deleted=True)
check(len(recent["records"]) == 2200, "a SystemModstamp filter pages through queryAll to all 2,200")
count = sf.query("SELECT COUNT() FROM Account")
check(count["totalSize"] == 2200, "COUNT() answers totalSize")

# --- search ---
found = sf.search("FIND {03-1234-5678} IN PHONE FIELDS RETURNING Contact(Id, Name)")
ids = [record["Id"] for record in found["searchRecords"]]
check(contact_id in ids, "SOSL finds the contact by phone")

# --- limits and usage header ---
limits = sf.limits()
check(limits["DailyApiRequests"]["Remaining"] < limits["DailyApiRequests"]["Max"], "limits count the calls made")
check(sf.api_usage.get("api-usage") is not None, "the library read Sforce-Limit-Info")

# --- errors ---
try:
    sf.Contact.create({"FirstName": "NoLastName"})
    check(False, "a contact without LastName is refused")
except SalesforceMalformedRequest as error:
    check(error.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING", "a missing LastName is REQUIRED_FIELD_MISSING")
try:
    sf.Contact.get("003000000000000AAA")
    check(False, "an unknown Id is not found")
except SalesforceResourceNotFound:
    check(True, "an unknown Id is SalesforceResourceNotFound")

status = sf.Contact.delete(contact_id)
check(status == 204, "delete answers 204")

# --- queryAll: the deleted contact is still there with include_deleted ---
live = sf.query(f"SELECT Id FROM Contact WHERE Id = '{contact_id}'")
check(live["totalSize"] == 0, "query leaves the deleted contact out")
with_deleted = sf.query(f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{contact_id}'", include_deleted=True)
check(with_deleted["totalSize"] == 1 and with_deleted["records"][0]["IsDeleted"] is True,
      "query(include_deleted=True) reads queryAll and finds the deleted contact")

# --- updated/ and deleted/ through the library's date handling ---
start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
updated = sf.Contact.updated(start, end)
check("latestDateCovered" in updated and isinstance(updated["ids"], list), "updated/ answers ids and latestDateCovered")
deleted = sf.Contact.deleted(start, end)
check(any(item["id"] == contact_id for item in deleted["deletedRecords"]), "deleted/ lists the deleted contact")
check("earliestDateAvailable" in deleted and "latestDateCovered" in deleted, "deleted/ answers its date bounds")

# --- upsert by external id in a collection, with partial failure ---
answer = sf.restful("composite/sobjects/Contact/CallsyncKey__c", method="PATCH", json={"allOrNone": False, "records": [
    {"attributes": {"type": "Contact"}, "CallsyncKey__c": "py-1", "Title": "CFO"},
    {"attributes": {"type": "Contact"}, "CallsyncKey__c": "py-2", "LastName": "Mori"},
    {"attributes": {"type": "Contact"}, "CallsyncKey__c": "py-3", "FirstName": "NoLastName"},
]})
check([item["success"] for item in answer] == [True, True, False], "collection upsert: two succeed, one fails")
check(answer[0]["created"] is False and answer[1]["created"] is True, "collection upsert says which were created")
check(answer[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING", "the failing record carries its statusCode")
check(sf.Contact.get_by_custom_id("CallsyncKey__c", "py-1")["Title"] == "CFO", "the upsert updated py-1")

# --- collection create with partial failure (allOrNone false) ---
partial = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
    {"attributes": {"type": "Contact"}, "LastName": "Partial"},
    {"attributes": {"type": "Contact"}, "FirstName": "NoLastName"},
]})
check(partial[0]["success"] and not partial[1]["success"], "allOrNone false keeps the good record")
kept = sf.query(f"SELECT Id FROM Contact WHERE Id = '{partial[0]['id']}'")
check(kept["totalSize"] == 1, "the good record of a partial failure is saved")

# --- person accounts ---
person = sf.Account.create({"FirstName": "Yui", "LastName": "Aoki", "PersonMobilePhone": "080-1111-3333"})
check(person["success"] and person["id"].startswith("001"), "a person account is created as an Account")
account = sf.Account.get(person["id"])
check(account["IsPersonAccount"] is True and account["Name"] == "Yui Aoki", "the person account is flagged and named")
person_contact = sf.query(f"SELECT Id, MobilePhone FROM Contact WHERE Id = '{account['PersonContactId']}'")
check(person_contact["records"][0]["MobilePhone"] == "080-1111-3333", "its hidden contact mirrors the mobile phone")
by_phone = sf.search("FIND {08011113333} IN PHONE FIELDS RETURNING Account(Id, IsPersonAccount)")
check(any(record["Id"] == person["id"] for record in by_phone["searchRecords"]), "SOSL finds the person account by phone")

# --- a token from the refresh-token grant, used through the library ---
redirect = "http://localhost/callback"
authorized = session.get(f"{URL}/services/oauth2/authorize", allow_redirects=False, params={
    "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect, "login_hint": USERNAME})
code = parse_qs(urlparse(authorized.headers["Location"]).query)["code"][0]
tokens = session.post(f"{URL}/services/oauth2/token", data={
    "grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET, "redirect_uri": redirect}).json()
check("refresh_token" in tokens, "the web-server flow answers a refresh token")
refreshed = session.post(f"{URL}/services/oauth2/token", data={
    "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
    "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).json()
check(refreshed["access_token"] != tokens["access_token"] and "refresh_token" not in refreshed,
      "the refresh grant answers a new access token and no new refresh token")
sf_refreshed = Salesforce(instance_url=refreshed["instance_url"], session_id=refreshed["access_token"],
                          session=session, version=VERSION)
check(sf_refreshed.query("SELECT COUNT() FROM Contact")["totalSize"] >= 1, "the refreshed token works through the library")
bad_refresh = session.post(f"{URL}/services/oauth2/token", data={
    "grant_type": "refresh_token", "refresh_token": "not-a-token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
check(bad_refresh.status_code == 400 and bad_refresh.json()["error"] == "invalid_grant", "an unknown refresh token is invalid_grant")

# --- an exhausted daily allowance ---
usage = session.put(f"{URL}/__sandbox/limits", json={"daily_api_limit": 100000, "used": 100000})
check(usage.status_code == 200, "the sandbox's allowance is used up")
try:
    sf.query("SELECT Id FROM Contact LIMIT 1")
    check(False, "a call past the daily allowance is refused")
except SalesforceRefusedRequest as error:
    check(error.status == 403 and error.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED",
          "past the allowance the library raises SalesforceRefusedRequest with REQUEST_LIMIT_EXCEEDED")
session.put(f"{URL}/__sandbox/limits", json={"used": 0})
check(sf.query("SELECT COUNT() FROM Contact")["totalSize"] >= 1, "calls work again once the allowance is back")
print("simple-salesforce fidelity: all checks passed")
