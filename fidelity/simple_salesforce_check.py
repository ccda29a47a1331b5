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

import os
import sys

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound
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
print("simple-salesforce fidelity: all checks passed")
