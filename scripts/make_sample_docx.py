"""Build the sample project's Word transcript ``fg03.docx`` with python-docx.

The transcript is synthetic, written for demonstration (no real participants). It is laid
out as transcription services deliver Word files: a line ``Speaker Name  00:01:02`` (the
speaker in bold, then the time), followed by one or more paragraphs of that speaker's
text; a statement that the transcript is synthetic comes first, before any speaker line,
so ingest skips it as a header.

The output is byte-for-byte reproducible: document properties and the zip entries' dates
are fixed.

Usage::

    .venv/bin/python scripts/make_sample_docx.py            # writes the bundled fg03.docx
    .venv/bin/python scripts/make_sample_docx.py --out /tmp/fg03.docx
"""

from __future__ import annotations

import argparse
import io
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "themeassist" / "data" / "sample" / "transcripts" / "fg03.docx"
SPEAKER_LINE = re.compile(r"^(?P<name>[A-Z][\w .\'-]+?)  (?P<time>\d\d:\d\d:\d\d)$")
FIXED_DATE = datetime(2024, 1, 1, tzinfo=UTC)

# The transcript: header paragraphs, then blocks of "Speaker  hh:mm:ss" + paragraphs,
# separated by blank lines.
TRANSCRIPT = """\
SYNTHETIC TRANSCRIPT, written for demonstration by the themeassist developers. No real participants took part; every name, place, organisation and story in it is invented.
It follows the design of the focus groups in Thomson, Waterson and Chatterjee (2024), Int J Equity Health 23, 135 (eight questions asked in order by one facilitator).
Focus group 3 of the themeassist sample project. Transcribed in the layout of a transcription service (speaker and time, then the text).

Facilitator  00:00:04
Right, I think we're all here. Thank you for coming. This is being recorded and it'll be transcribed by a transcription service, and then anonymised. Shall we do quick introductions?

Marion Blake  00:00:17
Marion, I'm the director of a rural arts charity, we cover most of the north of the county.

Kwame Mensah  00:00:25
Hi, Kwame. I'm a research fellow at the university, I coordinate the research partnership with the county council.

Rachel Evans  00:00:32
Rachel, I'm a green social prescribing coordinator with the wildlife trust.

Ian Thornton  00:00:38
Ian, I'm a GP, and I chair the primary care network for the market towns.

Sophie Clarke  00:00:45
Hi, I'm Sophie, youth worker, I run a youth project that's now a community interest company.

Bilal Hussain  00:00:53
Bilal, I'm a heritage officer for the national park. Sorry, my connection might be a bit slow, I'm working from home today.

Facilitator  00:01:03
No problem, Bilal. If you drop out, just rejoin with the same link.
Thanks everyone. So, the first question. What have been the successes and achievements of working in partnership?

Rachel Evans  00:01:16
Um, so, our big success has been the eco-friendly projects. We've got people growing food, building bug hotels, doing hedge-laying, and they're doing something good for the planet as well as for themselves. Participants really value that.
And because it's practical, people who'd never go to a wellbeing group will come. We get a lot of older men, farmers, people who'd rather die than sit in a circle talking about their feelings.
We did try a more traditional wellbeing café at the start, in the library, and, um, it didn't work. Three people came, and two of them were staff from other organisations.

Ian Thornton  00:01:57
That's absolutely true.
I say that as someone whose patients are mostly farmers. They'll come and see me about their knee, and it's only when you ask about the farm that you find out they haven't spoken to anyone else all week. The hedge-laying group has done more for some of them than anything I could prescribe. I'm not being dramatic, it's true.

Rachel Evans  00:02:22
Ha, yes. And it's fed into the council's biodiversity action plan. The conservation volunteers are now counted as part of the county's biodiversity work, so the partnership has a formal place in the plan.

Kwame Mensah  00:02:35
From the research side, the thing that's made the difference is having a coordinator role. The council and the university jointly created a research partnership coordinator post, and I'm in it, and I think it's made everything move faster because there's one person whose job it is to connect people.
Before that, honestly, the university would turn up with a project already designed and ask the council to sign a letter. Now we sit down together first, we look at what the council actually needs to know, and we design it together. It's slower at the start but it's much better. I'd also say it's made it easier for the PhD students, because they've got someone to go to who knows both worlds.

Marion Blake  00:03:23
I'd agree with Kwame.
For us it's been building on what was already there. We had a programme of creative workshops in the village halls for ten years before the partnership, and we built the health work on top of that, rather than starting from nothing.

Sophie Clarke  00:03:42
Yeah.

Bilal Hussain  00:03:44
I'd say having the national park involved has been a success, just because people love the landscape, but I'll maybe come back to that later.

Facilitator  00:03:54
Sure. Ian, anything from primary care?

Ian Thornton  00:03:58
From our end, I think the success is that the practices now see the voluntary sector as part of the team. Five years ago I'm not sure my colleagues would have known what the wildlife trust did.

Facilitator  00:04:13
Okay. Let's go to the second question. What challenges have you encountered in partnership working?

Kwame Mensah  00:04:20
I think for the research, um, the honest answer is we haven't made as much progress as we'd hoped. We've been going two years and we've got data from three sites out of eight. The research just hasn't progressed.

Marion Blake  00:04:35
Partnerships change, that's the challenge for me. You start with one set of partners, then halfway through the health partner drops out and a housing partner comes in. Different partners at different stages of the project, and everyone has to be brought up to speed again.

Sophie Clarke  00:04:53
Mm.
The funders are only interested in delivery. They'll pay for sessions, they'll pay for a youth worker to stand in a room, but they won't pay for the planning, the management, the evaluation.

Ian Thornton  00:05:08
And getting the money to all the partners. The grant comes to the lead organisation and then the smaller ones are always last in the queue. We've had partners do work for months unpaid because the funding for all the partners just wasn't there.

Rachel Evans  00:05:26
Yes, that.

Bilal Hussain  00:05:28
Sorry, you froze for a second there, Ian. Was that about the funding?

Ian Thornton  00:05:34
It was, yes, just the money not getting to the smaller partners.

Bilal Hussain  00:05:39
Okay, sorry, thanks.

Marion Blake  00:05:41
Can I add something? It's very hard to get people to take it seriously. The health partners sometimes treat the arts as a nice extra.

Kwame Mensah  00:05:52
That's a recurring thing, I think. The arts are seen as the nice bit.

Facilitator  00:05:58
Thank you. Okay, question three. How are you sustaining your organisation's health and wellbeing work?

Rachel Evans  00:06:05
So the green social prescribing is building on the link worker scheme that was already running. We didn't create a new referral route, we slotted into the social prescribing that was already there, and that's why it's lasted.

Marion Blake  00:06:21
Some of it costs almost nothing. A walk, a sketchbook, a cup of tea in a village hall. You don't need a big budget to improve people's wellbeing.

Kwame Mensah  00:06:33
Mm-hm.

Sophie Clarke  00:06:36
For me the problem is scale. We could run the youth project in four more towns, the model works, but you can't get economies of scale without funding that lasts more than a year.

Ian Thornton  00:06:50
I think there's also a loss when projects end. Our practices used to meet the arts groups every quarter and share skills, and when the funding stopped that all just disappeared.

Bilal Hussain  00:07:02
I'm, er, I'm not sure I've got much to add on this one.

Facilitator  00:07:08
That's fine.

Kwame Mensah  00:07:10
Just one thing. I think sustainability also depends on whether the evidence is useful to anyone. We produce reports, but I'm never sure the commissioners actually read them or do anything with them.

Marion Blake  00:07:25
I'm sure they read yours, Kwame.

Kwame Mensah  00:07:29
That's kind, Marion, I'm not so sure.

Facilitator  00:07:32
Thank you. Question four. What are your views on integrated care systems seeking to achieve integration?

Ian Thornton  00:07:40
I'm a bit cynical, I'll be honest. There's a lot of excitement about new things, new pilots, new apps, and not much interest in just funding what already works. Novelty is valued over efficiency.

Marion Blake  00:07:54
Yes!
Sorry, but yes, that's exactly it.

Sophie Clarke  00:07:59
I think the voluntary sector would commission better than the ICB does. We know our communities, we know which groups are good. Better organisations to commission the services are sitting right there.

Rachel Evans  00:08:12
Um, I'm not sure, I think it's early days.
We've been invited to one of the place partnership meetings, so that's something. But I came away not really knowing what had been decided or who to follow up with.

Kwame Mensah  00:08:28
My worry is crisis care. The mental health crisis team covers the whole county with a handful of staff, and people in crisis can wait hours, and the ICS hasn't fixed that.

Ian Thornton  00:08:41
That's fair.
It's the part of the system I worry about most, to be honest, as a GP.

Facilitator  00:08:49
Thank you. Moving to health inequalities. What do you understand by health inequalities?

Sophie Clarke  00:08:55
For the young people I work with, it's about what they don't get to do. They don't go to the theatre, they don't go on holiday, they've never been to the beach even though it's forty minutes away. Limited access to all those enrichment opportunities.
And the youth services here have been decimated. When I started there were eleven youth centres in the county. Now there are two.

Bilal Hussain  00:09:22
That's shocking.

Marion Blake  00:09:25
I think there's a real urgency. People are dying younger in some of our villages than in the next valley, and we're still talking about pilots. It needs sorting now.

Kwame Mensah  00:09:37
Okay.

Rachel Evans  00:09:39
It's a bit abstract, isn't it, the term. I don't think people we work with would ever use it.

Ian Thornton  00:09:47
No, they'd talk about not being able to get an appointment.

Bilal Hussain  00:09:52
Sorry, I'm going to turn my camera off, the connection's really struggling.

Facilitator  00:09:58
That's fine, Bilal.
Thanks. Next question. How have you identified and reached individuals and communities from the poorest backgrounds?

Kwame Mensah  00:10:06
We've been using the NHS Core20PLUS5 framework. It gives you the most deprived twenty percent nationally plus the local groups, and we use that to decide which practices to work with.

Ian Thornton  00:10:18
Yes, the practices know the Core20 populations now.

Sophie Clarke  00:10:22
We've used a community organising model. We trained local young people to go door to door, listen to what people wanted, and then bring people together around it.

Bilal Hussain  00:10:34
We made a film. We gave cameras to a group of young people from the estate and they made a film about their relationship with the national park, and that film reached people that our leaflets never did.

Marion Blake  00:10:50
Oh, I saw that, it was wonderful.

Rachel Evans  00:10:54
Mostly through the link workers, honestly. They know who's isolated.
I'd say we're still not reaching the poorest families, though. The people who come to the gardening group tend to be people who already had gardens, if that makes sense. We've talked about doing sessions on the estates themselves, taking the plants to them, but we haven't cracked it yet.

Facilitator  00:11:18
Okay, question seven. What opportunities are there for connecting with people experiencing the worst inequalities?

Bilal Hussain  00:11:26
Okay, this is the thing I wanted to come back to. People identify with this place. Even people who feel they've got nothing, they're proud of the hills, of the farming history, and that sense of place is a way in.

Marion Blake  00:11:42
The village halls, the parish councils, the place-based organisations. They're in every village, they're trusted, and they're the obvious place to start.

Sophie Clarke  00:11:51
After-school clubs. We run two, and they reach the kids whose parents are working late or can't afford childcare, and then we get to know the parents.

Rachel Evans  00:12:02
And just getting people outside. Nature is so good for people's mental health, the gardening group, the walks, people say it's the only thing that helps when they're low.

Ian Thornton  00:12:15
The evidence for that is strong, actually.
There are a couple of good reviews on green prescribing, I can send them round if people want them.

Rachel Evans  00:12:26
Yes please, Ian.

Sophie Clarke  00:12:28
Can I also say, one of the things we did was help three groups set up as community interest companies, so they can apply for their own funding. That's been a real opportunity.

Kwame Mensah  00:12:42
That's great.

Facilitator  00:12:44
And the last question. What are the challenges of connecting with people experiencing the worst inequalities?

Rachel Evans  00:12:51
Rurality. There are so few options in the rural areas. If you don't drive, there's nothing. One bus a day, if you're lucky.

Marion Blake  00:13:01
The spread of it. We cover eight hundred square miles. My staff spend more time driving than running sessions.

Ian Thornton  00:13:09
The link workers are all based in the town practices, so the people in the outlying villages never see them. The location of the link workers is a problem.

Sophie Clarke  00:13:20
Kids don't go outside any more. We take them up the hill and they've never been in a field, some of them are scared of the cows.

Bilal Hussain  00:13:32
Ha, the cows are quite scary.

Sophie Clarke  00:13:36
They are! But it's sad, isn't it, they're growing up surrounded by countryside and it's like it belongs to someone else.

Kwame Mensah  00:13:45
And a lot of the small groups don't have websites. They're on a noticeboard in the post office, so you can't find them online and you can't refer anyone to them.

Facilitator  00:13:59
Thank you. That's all the questions. Does anyone want to add anything before we finish?

Marion Blake  00:14:06
Just that it's been good to hear from everyone.

Sophie Clarke  00:14:11
Thanks, bye.
"""


def build(out: Path) -> Path:
    """Write the transcript as a .docx to ``out`` and return the path."""
    import docx
    from docx.shared import Pt

    document = docx.Document()
    props = document.core_properties
    props.author = "themeassist developers"
    props.title = "Focus group 3 (synthetic transcript, written for demonstration)"
    props.comments = "Synthetic transcript for the themeassist sample project; no real participants."
    props.created = props.modified = props.last_printed = FIXED_DATE
    props.last_modified_by = "themeassist developers"
    props.revision = 1
    style = document.styles["Normal"]
    style.font.name = "Calibri"
    style.font.size = Pt(11)

    for line in TRANSCRIPT.strip("\n").split("\n"):
        if not line.strip():
            continue
        m = SPEAKER_LINE.match(line)
        paragraph = document.add_paragraph()
        if m:
            paragraph.add_run(m.group("name")).bold = True
            paragraph.add_run("  " + m.group("time"))
            paragraph.paragraph_format.space_before = Pt(10)
        else:
            paragraph.add_run(line)
    buffer = io.BytesIO()
    document.save(buffer)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(_fixed_zip(buffer.getvalue()))
    return out


def _fixed_zip(data: bytes) -> bytes:
    """The same zip with every entry dated 1980-01-01, so rebuilds are byte-identical."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the .docx to write")
    args = parser.parse_args()
    print(f"wrote {build(args.out)}")


if __name__ == "__main__":
    main()
