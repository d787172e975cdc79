"""DKIM signing cost per message: Carteiro's signer against plain dkimpy, on typical messages.

Run from the repository root:

    .venv/bin/python bench/dkim_cost.py                       # 2,000 messages per size
    .venv/bin/python bench/dkim_cost.py -n 500 --dispatcher-rate 1800

Each message is composed by the real `compose_message` with List-Unsubscribe headers (a bulk
message, the worst case: two more signed headers), in three sizes: a short transactional text,
a newsletter with HTML, and one with a 100 KB attachment. Carteiro's signer (dkimpy's parsing
and relaxed/relaxed canonicalisation, RSA-2048 through OpenSSL, parsed key cached) is timed
against the peer, `dkim.sign` as dkimpy's README shows it (pure-Python RSA, key parsed per
call). Every signature is checked once with dkimpy's verifier before timing. It prints
µs/message, the messages per second one core can sign, the speed ratio, and, given the
dispatcher's measured throughput with a 0 ms SMTP server (`--dispatcher-rate`, messages/s), the
share of one core that signing would take at that rate.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import dkim

from carteiro.config import Settings
from carteiro.leads import unsubscribe
from carteiro.mail.attachments import Attachment
from carteiro.mail.compose import compose_message, make_message_id
from carteiro.mail.dkim import SIGNED_HEADERS, DkimSigner
from carteiro.outbound.dkim.keys import _new_pair

DOMAIN = "empresa.com.br"
SELECTOR = "carteiro"
PARAGRAPH = (
    "Olá, Maria! Preparamos uma seleção de ofertas para você neste mês de março, com "
    "condições especiais para clientes que já compraram conosco. Confira abaixo.\n"
)


def messages(kind: str, count: int) -> list[bytes]:
    settings = Settings(_env_file=None, secret_key="bench", public_url="https://mail.example.com")
    built = []
    for i in range(count):
        to = f"cliente{i}@example.org"
        headers = unsubscribe.list_unsubscribe_headers(
            settings, tenant_id=1, address=to, email_id=i, mailto=f"sair@{DOMAIN}"
        )
        text = PARAGRAPH * (3 if kind == "transactional" else 20)
        html = (
            None if kind == "transactional" else "<p>" + "</p><p>".join([PARAGRAPH] * 40) + "</p>"
        )
        attachments = (
            [Attachment("tabela.pdf", "application/pdf", bytes(range(256)) * 400)]
            if kind == "attachment"
            else []
        )
        built.append(
            compose_message(
                from_addr=f"contato@{DOMAIN}",
                from_name="Equipe Empresa",
                to=[to],
                cc=[],
                subject=f"Ofertas de março nº {i}",
                text=text,
                html=html,
                attachments=attachments,
                headers=headers,
                message_id=make_message_id(DOMAIN),
            )
        )
    return built


def timed(sign: Callable[[bytes], bytes], batch: list[bytes], rounds: int = 3) -> float:
    """Best-of-rounds mean seconds per message (the least disturbed run)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for raw in batch:
            sign(raw)
        best = min(best, (time.perf_counter() - start) / len(batch))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="messages per size (default 2000)")
    parser.add_argument(
        "--peer-n", type=int, default=200, help="messages per size for plain dkimpy (slow)"
    )
    parser.add_argument(
        "--dispatcher-rate",
        type=float,
        default=None,
        help="the dispatcher's throughput with a 0 ms SMTP server, messages/s",
    )
    args = parser.parse_args()

    private_pem, public_b64 = _new_pair(2048)
    record = f"v=DKIM1; k=rsa; p={public_b64}".encode()
    signer = DkimSigner.from_pem(domain=DOMAIN, selector=SELECTOR, private_pem=private_pem)
    pem_bytes = private_pem.encode()

    def carteiro(raw: bytes) -> bytes:
        return signer.sign(raw)

    def plain_dkimpy(raw: bytes) -> bytes:
        present = {
            line.split(b":", 1)[0].lower() for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        }
        include = [h for h in SIGNED_HEADERS if h in present]
        return (
            dkim.sign(
                raw,
                SELECTOR.encode(),
                DOMAIN.encode(),
                pem_bytes,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=include,
            )
            + raw
        )

    print(
        f"DKIM rsa-sha256 2048-bit, relaxed/relaxed; {args.n} messages per size "
        f"(peer {args.peer_n})"
    )
    print(
        f"{'message':<14}{'bytes':>9}{'carteiro µs':>14}{'msgs/s':>10}"
        f"{'dkimpy µs':>12}{'msgs/s':>9}{'ratio':>8}"
    )
    costs = []
    for kind in ("transactional", "newsletter", "attachment"):
        batch = messages(kind, args.n)
        for sign in (carteiro, plain_dkimpy):
            assert dkim.verify(sign(batch[0]), dnsfunc=lambda _n, timeout=5: record), sign
        ours = timed(carteiro, batch)
        peer = timed(plain_dkimpy, batch[: args.peer_n], rounds=1)
        size = int(statistics.mean(len(m) for m in batch))
        costs.append(ours)
        print(
            f"{kind:<14}{size:>9}{ours * 1e6:>14.0f}{1 / ours:>10.0f}"
            f"{peer * 1e6:>12.0f}{1 / peer:>9.0f}{peer / ours:>7.1f}x"
        )
    typical = costs[1]
    print(f"signing alone, one core, newsletter-sized: {1 / typical:.0f} msgs/s")
    if args.dispatcher_rate:
        share = args.dispatcher_rate * typical
        print(
            f"at the dispatcher's {args.dispatcher_rate:.0f} msgs/s (0 ms SMTP), signing takes "
            f"{share:.1%} of one core ({typical * 1e6:.0f} µs of every "
            f"{1e6 / args.dispatcher_rate:.0f} µs)"
        )
    else:
        print("pass --dispatcher-rate N (msgs/s with a 0 ms SMTP server) for signing's share of it")


if __name__ == "__main__":
    main()
