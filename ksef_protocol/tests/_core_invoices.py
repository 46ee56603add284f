"""A minimal, XSD-valid FA(3) invoice for the core end-to-end tests (independent of ksef_protocol.fa3)."""
import datetime
import uuid

SELLER_NIP = "5265877635"
BUYER_NIP = "1234560007"

_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">
  <Naglowek>
    <KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza>
    <WariantFormularza>3</WariantFormularza>
    <DataWytworzeniaFa>{created}</DataWytworzeniaFa>
    <SystemInfo>ksef_protocol core tests</SystemInfo>
  </Naglowek>
  <Podmiot1>
    <DaneIdentyfikacyjne><NIP>{seller}</NIP><Nazwa>Sprzedawca Testowy sp. z o.o.</Nazwa></DaneIdentyfikacyjne>
    <Adres><KodKraju>PL</KodKraju><AdresL1>ul. Prosta 1, 00-001 Warszawa</AdresL1></Adres>
  </Podmiot1>
  <Podmiot2>
    <DaneIdentyfikacyjne><NIP>{buyer}</NIP><Nazwa>Nabywca Testowy S.A.</Nazwa></DaneIdentyfikacyjne>
    <Adres><KodKraju>PL</KodKraju><AdresL1>ul. Długa 5, 80-001 Gdańsk</AdresL1></Adres>
    <JST>2</JST>
    <GV>2</GV>
  </Podmiot2>
  <Fa>
    <KodWaluty>PLN</KodWaluty>
    <P_1>{issue_date}</P_1>
    <P_2>{number}</P_2>
    <P_13_1>100.00</P_13_1>
    <P_14_1>23.00</P_14_1>
    <P_15>123.00</P_15>
    <Adnotacje>
      <P_16>2</P_16>
      <P_17>2</P_17>
      <P_18>2</P_18>
      <P_18A>2</P_18A>
      <Zwolnienie><P_19N>1</P_19N></Zwolnienie>
      <NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu>
      <P_23>2</P_23>
      <PMarzy><P_PMarzyN>1</P_PMarzyN></PMarzy>
    </Adnotacje>
    <RodzajFaktury>VAT</RodzajFaktury>
    <FaWiersz>
      <NrWierszaFa>1</NrWierszaFa>
      <P_7>Usługa testowa</P_7>
      <P_8A>szt.</P_8A>
      <P_8B>1</P_8B>
      <P_9A>100.00</P_9A>
      <P_11>100.00</P_11>
      <P_12>23</P_12>
    </FaWiersz>
  </Fa>
</Faktura>
"""


def make_invoice(number=None, seller=SELLER_NIP, buyer=BUYER_NIP, issue_date=None):
    """UTF-8 bytes of a one-line 23% VAT invoice; a unique number avoids KSeF duplicate detection."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return _TEMPLATE.format(
        created=now.strftime("%Y-%m-%dT%H:%M:%SZ"), seller=seller, buyer=buyer,
        issue_date=(issue_date or now.date()).isoformat(),
        number=number or "FV/CORE/%s" % uuid.uuid4().hex[:12].upper()).encode("utf-8")
