"""libdave as it ships (PyPI's dave.py), driven by the e2ee harness over stdio.

One JSON object per line in, one per line out, in order: {"id": N, "op": ..., ...} answered by
{"id": N, "ok": {...}} or {"id": N, "error": "..."}. Bytes travel as lowercase hex. The sidecar
holds any number of DAVE sessions, each named by the handle `new` returns; it never decides
anything about the protocol: every answer is what libdave returned, and libdave's own failure
reports (its MLS failure callback) ride along in "failures" as evidence.

Run it in the project's venv (`scripts/setup.sh` makes .venv-dave): .venv-dave/bin/python
harness/sidecars/libdave_sidecar.py
"""

import asyncio
import json
import sys

import dave

MEDIA = {"audio": dave.MediaType.audio, "video": dave.MediaType.video}
CODECS = {c.name: c for c in dave.Codec}


class Participant:
    """One libdave Session with its Encryptor and one Decryptor per sender."""

    def __init__(self, user_id, channel_id, version):
        self.user_id = user_id
        self.failures = []
        self.session = dave.Session(
            lambda source, reason: self.failures.append(f"{source}: {reason}")
        )
        self.session.init(version, channel_id, user_id)
        self.encryptor = dave.Encryptor()
        self.decryptors = {}

    def take_failures(self):
        out, self.failures = self.failures, []
        return out


def unhex(request, field):
    value = request.get(field)
    if not isinstance(value, str):
        raise ValueError(f"`{field}`: expected a hex string")
    return bytes.fromhex(value)


def roster(result):
    """libdave's roster: user id -> signature key (empty when the user was removed)."""
    return {str(uid): bytes(key).hex() for uid, key in result.items()}


class Sidecar:
    def __init__(self):
        self.sessions = {}
        self.next = 0
        self.loop = asyncio.new_event_loop()

    def participant(self, request):
        handle = request.get("session")
        if handle not in self.sessions:
            raise ValueError(f"no session {handle!r}")
        return self.sessions[handle]

    def handle(self, request):
        op = request.get("op")
        if op == "hello":
            return {
                "name": "libdave (dave.py)",
                "version": getattr(dave, "__version__", "unknown"),
                "max_protocol_version": dave.get_max_supported_protocol_version(),
            }
        if op == "new":
            self.next += 1
            self.sessions[self.next] = Participant(
                str(int(request["user_id"])),
                int(request["channel_id"]),
                int(request.get("protocol_version", 1)),
            )
            return {"session": self.next}
        p = self.participant(request)
        s = p.session
        if op == "external_sender":
            s.set_external_sender(unhex(request, "payload"))
            return {}
        if op == "key_package":
            kp = s.get_marshalled_key_package()
            return {"key_package": kp.hex() if kp is not None else None}
        if op == "proposals":
            out = s.process_proposals(unhex(request, "payload"), set(request["recognized"]))
            return {"commit_welcome": out.hex() if out is not None else None}
        if op == "commit":
            out = s.process_commit(unhex(request, "commit"))
            if isinstance(out, dave.RejectType):
                return {"rejected": out.name}
            return {"roster": roster(out)}
        if op == "welcome":
            out = s.process_welcome(unhex(request, "welcome"), set(request["recognized"]))
            return {"roster": roster(out) if out is not None else None}
        if op == "authenticator":
            ea = s.get_last_epoch_authenticator()
            return {"epoch_authenticator": ea.hex() if ea is not None else None}
        if op == "use_epoch":
            # The keys of the current epoch: our own for sending, each sender's for reading.
            p.encryptor.set_key_ratchet(s.get_key_ratchet(p.user_id))
            for sender in request.get("senders", []):
                d = p.decryptors.setdefault(str(sender), dave.Decryptor())
                d.transition_to_key_ratchet(s.get_key_ratchet(str(sender)))
            return {}
        if op == "encrypt":
            ssrc = int(request["ssrc"])
            p.encryptor.assign_ssrc_to_codec(ssrc, CODECS[request.get("codec", "opus")])
            out = p.encryptor.encrypt(MEDIA[request["media"]], ssrc, unhex(request, "frame"))
            return {"frame": out.hex() if out is not None else None}
        if op == "decrypt":
            d = p.decryptors.get(str(request["sender"]))
            if d is None:
                return {"frame": None}
            out = d.decrypt(MEDIA[request["media"]], unhex(request, "frame"))
            return {"frame": out.hex() if out is not None else None}
        if op == "fingerprint":
            future = s.get_pairwise_fingerprint(0, str(int(request["other"])))
            out = self.loop.run_until_complete(asyncio.wait_for(future, 30))
            return {"fingerprint": out.hex() if out is not None else None}
        if op == "reset":
            s.reset()
            return {}
        if op == "free":
            del self.sessions[request["session"]]
            return {}
        raise ValueError(f"unknown op {op!r}")

    def serve(self, lines, out):
        for line in lines:
            request_id = None
            try:
                request = json.loads(line)
                request_id = request.get("id")
                answer = {"id": request_id, "ok": self.handle(request)}
                p = self.sessions.get(request.get("session"))
                if p is not None:
                    answer["failures"] = p.take_failures()
            except Exception as e:  # every failure is an answer, never a dead sidecar
                answer = {"id": request_id, "error": f"{type(e).__name__}: {e}"}
            out.write(json.dumps(answer) + "\n")
            out.flush()


if __name__ == "__main__":
    Sidecar().serve(sys.stdin, sys.stdout)
