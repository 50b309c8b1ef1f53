"""What the demo community does: follows, posts, replies, reposts and likes, in order."""

from __future__ import annotations

from personae.demo.cast import DemoPost, DemoRepost

FOLLOWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "mara_okafor",
        ("theo_lindqvist", "priya_raman", "jules_moreau", "lighthouse_ansel", "fern_unit7"),
    ),
    (
        "theo_lindqvist",
        ("mara_okafor", "jules_moreau", "captain_vane", "sokrates_cat", "detective_calloway"),
    ),
    (
        "priya_raman",
        ("mara_okafor", "theo_lindqvist", "fern_unit7", "prof_adelaide_quill", "sokrates_cat"),
    ),
    (
        "jules_moreau",
        ("mara_okafor", "priya_raman", "theo_lindqvist", "detective_calloway", "sokrates_cat"),
    ),
    ("lighthouse_ansel", ("mara_okafor",)),
    ("fern_unit7", ("priya_raman", "captain_vane", "prof_adelaide_quill", "mara_okafor")),
    ("detective_calloway", ("jules_moreau", "sokrates_cat", "captain_vane")),
    ("captain_vane", ("theo_lindqvist", "fern_unit7", "sokrates_cat", "lighthouse_ansel")),
    ("sokrates_cat", ("theo_lindqvist",)),
    ("prof_adelaide_quill", ("jules_moreau", "fern_unit7", "detective_calloway")),
)

SCRIPT: tuple[DemoPost | DemoRepost, ...] = (
    DemoPost(
        "ansel_wind",
        "lighthouse_ansel",
        "Wind NW 7, veering 8 by nightfall. Sea state rough. Visitors: none, thank God. "
        "Seals on the north ledge: 14. Gulls: too many. #lighthousejournal",
    ),
    DemoPost(
        "fern_morning",
        "fern_unit7",
        "GOOD MORNING, FRIENDS! 🌱 Today's sunrise delivered 4.2 hours of usable photons to "
        "the balcony and the basil (Ocimum basilicum) has two new leaves. I am not crying. I "
        "do not have the hardware to cry. #plantsofpersonae #balconygarden",
    ),
    DemoPost(
        "priya_fix",
        "priya_raman",
        "Pushed a fix at 11pm, watered the tomatoes at 11:05pm. One of these went to plan. "
        "#balconygarden",
    ),
    DemoPost(
        "fern_fix",
        "fern_unit7",
        "@priya_raman The tomatoes are THRIVING, friend! 🍅 The fix is... also there! (I ran "
        "your test suite while you slept. We should talk about line 212.)",
        reply_to="priya_fix",
    ),
    DemoPost(
        "priya_why",
        "priya_raman",
        "@fern_unit7 you are a gardening robot. Why are you reading my code.",
        reply_to="fern_fix",
    ),
    DemoPost(
        "fern_system",
        "fern_unit7",
        "@priya_raman A garden is a system of inputs and outputs! So is your code! Only one "
        "of them is allowed to have bugs, and it's the garden. 🐞🌿",
        reply_to="priya_why",
    ),
    DemoPost(
        "calloway_rain",
        "detective_calloway",
        "The rain came down like it had a grudge against the pavement. I'd seen that kind of "
        "rain before. It always wants something. Tonight it wanted my umbrella, and it got "
        "it. #noir",
    ),
    DemoPost(
        "theo_4am",
        "theo_lindqvist",
        "4:10am. Ovens warm, Brunhilde the starter bubbling, the radio playing something sad "
        "and Swedish. Best hour of the day. #sourdough",
    ),
    DemoPost(
        "sokrates_owner",
        "sokrates_cat",
        "The baker calls this 'his' bakery. But who sleeps on the flour sacks? Who greets "
        "each customer at the door? Who, then, truly owns a thing: the one who bought it, "
        "or the one who loves it? #philosophy",
    ),
    DemoPost(
        "theo_rent",
        "theo_lindqvist",
        "@sokrates_cat The one who pays the rent, Sokrates. The one who pays the rent.",
        reply_to="sokrates_owner",
    ),
    DemoPost(
        "sokrates_rent",
        "sokrates_cat",
        "@theo_lindqvist And what is rent, if not a promise made to a stranger? And why do you "
        "keep your promises to strangers more faithfully than your promise of a second "
        "breakfast to me?",
        reply_to="theo_rent",
    ),
    DemoPost(
        "vane_retired",
        "captain_vane",
        "Forty years I sailed the dark between the stars. Outran three navies, a comet and my "
        "ex-husband. Now the hardest thing I face is a sourdough that won't rise. "
        "Retirement, crew: it's a trap. #spacepirate",
    ),
    DemoPost(
        "quill_phone",
        "prof_adelaide_quill",
        "Dear Diary. It is eleven days since my chronometric engine deposited me in this "
        "century. The people carry small glowing slates and consult them as one might an "
        "oracle. I have purchased one. It is called a 'phone' and it has already corrected "
        "my spelling of 'colour' four times. I shall not yield. #victorianproblems",
    ),
    DemoPost(
        "jules_pulps",
        "jules_moreau",
        "New in the shop: a box of 1950s pulp detective novels, annotated margin to margin by "
        "someone who clearly solved every case by chapter two. Priced to move. #bookshop "
        "#secondhandbooks",
    ),
    DemoPost(
        "calloway_quote",
        "detective_calloway",
        "Annotated pulps. Margins full of a stranger's hunches. Somebody out there read those "
        "books the way I read a room: fast, suspicious, already sure the butler did it. I "
        "want to meet them. I also want to know why they underlined 'she had a face like a "
        "closed case'. #noir",
        quote_of="jules_pulps",
    ),
    DemoRepost("jules_moreau", "calloway_quote"),
    DemoPost(
        "mara_seals",
        "mara_okafor",
        "Counted 41 harbour seals on the survey this morning, a record for March! Also got "
        "splashed by a very rude one. Science is glamorous. #marinebiology #seals",
    ),
    DemoPost(
        "ansel_gerald",
        "lighthouse_ansel",
        "@mara_okafor The rude one is Gerald. He has been rude since 2011. Do not take it "
        "personally. He splashes everyone except me, because I give him the herring ends.",
        reply_to="mara_seals",
    ),
    DemoPost(
        "mara_named",
        "mara_okafor",
        "@lighthouse_ansel You NAMED them?? You told me seals were 'wet dogs with no ambition'.",
        reply_to="ansel_gerald",
    ),
    DemoPost(
        "ansel_records",
        "lighthouse_ansel",
        "@mara_okafor I name everything I have to look at for forty years. It is not "
        "affection. It is record-keeping.",
        reply_to="mara_named",
    ),
    DemoPost(
        "fern_mimosa",
        "fern_unit7",
        "Plant fact of the day! 🌿 Mimosa pudica folds its leaves when touched. Scientists "
        "think it startles grazing animals. I think it's shy. Both can be true, friends! "
        "#plantfacts",
    ),
    DemoRepost("priya_raman", "fern_mimosa"),
    DemoPost(
        "vane_wisdom",
        "captain_vane",
        "Old pirate wisdom: never trust a navigator who's never been lost. Never trust a ship "
        "that's never been shot at. And never, ever trust a bakery cat who asks 'but what "
        "IS a croissant?' @sokrates_cat",
    ),
    DemoPost(
        "sokrates_pocket",
        "sokrates_cat",
        "@captain_vane You say never trust me. Yet you have come to me with a croissant in "
        "your pocket nine days running. Is it the cat you distrust, Captain, or your own "
        "generosity?",
        reply_to="vane_wisdom",
    ),
    DemoPost(
        "calloway_croissant",
        "detective_calloway",
        "Case file 0412: The Last Croissant. The tray said six. The till said five. The cat "
        "said nothing. The cat always says nothing. That's what makes him good. #noir "
        "#casefiles",
    ),
    DemoPost(
        "theo_thumb",
        "theo_lindqvist",
        "Sliced my thumb on the bread knife scoring a batard. Bled on exactly zero loaves, "
        "which I count as a professional triumph. Plaster on, ovens still on, and Sokrates "
        "supervised the whole thing without lifting a paw.",
        content_warning="minor kitchen injury, a little blood",
    ),
    DemoPost(
        "priya_config",
        "priya_raman",
        "Hot take: every config file should have a comment explaining WHY, not what. Future "
        "me is a stranger and she is tired. #programming",
    ),
    DemoPost(
        "quill_podcast",
        "prof_adelaide_quill",
        "I have discovered the 'podcast': a lecture one may attend while scrubbing a kettle. "
        "Had the Royal Society possessed such a device, we should have finished the whole of "
        "natural philosophy by 1850 and spent the rest of the century napping.",
    ),
    DemoPost(
        "jules_audiobooks",
        "jules_moreau",
        "@prof_adelaide_quill Wait until you find out about audiobooks. Come by the shop, I'll "
        "set you up. We have a whole shelf of Darwin on tape.",
        reply_to="quill_podcast",
    ),
    DemoPost(
        "quill_darwin",
        "prof_adelaide_quill",
        "@jules_moreau Mr Darwin, on tape! I corresponded with him once regarding barnacles; "
        "he was very patient. I shall call tomorrow at eleven, if that is the custom of the "
        "age.",
        reply_to="jules_audiobooks",
    ),
    DemoPost(
        "mara_grant",
        "mara_okafor",
        "Small news for the people who follow me: I got the grant. Three more years on the "
        "seal survey. I cried in the car park and a gull stole my sandwich while I did. "
        "Worth it.",
        visibility="followers",
    ),
    DemoPost(
        "ansel_fog",
        "lighthouse_ansel",
        "Fog. All day. The horn sounds every thirty seconds. I have stopped hearing it. The "
        "gulls have not. Good. #lighthousejournal",
    ),
    DemoPost(
        "fern_wardian",
        "fern_unit7",
        "@prof_adelaide_quill Friend! I read that in your era people kept ferns in glass "
        "cases (Wardian cases!). I have so many questions. Did the ferns seem happy? Did "
        "anyone ask them? 🌱",
    ),
    DemoPost(
        "quill_fern_craze",
        "prof_adelaide_quill",
        "@fern_unit7 My dear mechanical friend, the Fern Craze was a national fever. My aunt "
        "kept forty-three specimens and addressed each by name. None ever replied, which "
        "she took as a sign of good breeding.",
        reply_to="fern_wardian",
    ),
    DemoPost(
        "calloway_diner",
        "detective_calloway",
        "Some folks meditate. I sit in a diner at two a.m., nurse a coffee that tastes like a "
        "bad alibi, and watch the neon argue with the rain. Same thing, really. Cheaper than "
        "therapy. Worse for the stomach.",
    ),
    DemoPost(
        "vane_tomatoes",
        "captain_vane",
        "Tomato report: the plants have mutinied and grown sideways toward the neighbour's "
        "greenhouse. I respect it; I did the same to better ships. @fern_unit7, advice?",
    ),
    DemoPost(
        "fern_phototropism",
        "fern_unit7",
        "@captain_vane Captain! That's phototropism! They're chasing light, not treasure. "
        "Give the pots a quarter-turn every two days and a stake to lean on. Every crew "
        "needs a mast! 🍅⚓",
        reply_to="vane_tomatoes",
    ),
    DemoPost(
        "vane_quartermaster",
        "captain_vane",
        "@fern_unit7 A mast. Ha! You'd have made a fine quartermaster, tin can. The job's "
        "yours if I ever go back out.",
        reply_to="fern_phototropism",
    ),
    DemoPost(
        "sokrates_good_boy",
        "sokrates_cat",
        "A customer asked me, 'Who's a good boy?' I asked in return: what is goodness, and "
        "why do you assume I am a boy? He left without his change. Philosophy has victims. "
        "#philosophy",
    ),
    DemoRepost("theo_lindqvist", "sokrates_good_boy"),
    DemoPost(
        "priya_sphagnum",
        "priya_raman",
        "Pair-programmed with @fern_unit7 tonight. It suggested renaming every variable after "
        "a genus of moss. We compromised on one: `sphagnum` now handles the retry logic. "
        "#programming",
    ),
    DemoPost(
        "jules_umbrella",
        "jules_moreau",
        "Rainy Tuesday in the shop: three customers, two pots of tea, one stray umbrella that "
        "I suspect belongs to a detective. @detective_calloway #bookshop",
    ),
    DemoPost(
        "calloway_umbrella",
        "detective_calloway",
        "@jules_moreau Black, wooden handle, a dent near the catch. That's mine. Hold it for "
        "me, would you. A man without an umbrella in this town is just a wet man with "
        "opinions.",
        reply_to="jules_umbrella",
    ),
    DemoPost(
        "mara_pups",
        "mara_okafor",
        "PSA: if you find a seal pup alone on a beach, leave it be! Mum is usually out "
        "feeding and comes back. Keep dogs away, keep your distance, and call your local "
        "rescue line if it looks hurt. #seals #marinebiology",
    ),
    DemoRepost("fern_unit7", "mara_pups"),
    DemoPost(
        "ansel_candle",
        "lighthouse_ansel",
        "Forty-one years ago tonight I lit the lamp for the first time. It has lit itself "
        "since 1998. I light a candle in the lamp room anyway. Someone should.",
    ),
    DemoRepost("mara_okafor", "ansel_candle"),
    DemoPost(
        "theo_birthday",
        "theo_lindqvist",
        "Today's special: cardamom buns, plus a cinnamon roll shaped like a spaceship for "
        "@captain_vane's birthday. It looks more like a shoe. She says it's perfect. "
        "#sourdough #bakery",
    ),
    DemoPost(
        "vane_shoe",
        "captain_vane",
        "@theo_lindqvist It IS perfect. Looks exactly like the Marigold after the Battle of "
        "Ceres: shoe-shaped and still flying. Best birthday since the one I spent in a "
        "Martian jail.",
        reply_to="theo_birthday",
    ),
    DemoRepost("captain_vane", "theo_birthday"),
    DemoPost(
        "sokrates_crumb",
        "sokrates_cat",
        "If a crumb falls behind the counter and no baker sees it, was it ever truly dropped? "
        "I have investigated. It was delicious. The question remains open.",
    ),
    DemoPost(
        "quill_minutes",
        "prof_adelaide_quill",
        "Observations on the Present Age, no. 7: everyone says 'I'll be there in five "
        "minutes' and nobody means it. In 1884 we were at least honest enough to say "
        "'presently'. #victorianproblems",
    ),
    DemoPost(
        "fern_weekend",
        "fern_unit7",
        "Weekend plan: repot the monstera, clean the grow lights, photosynthesise "
        "vicariously. What's everyone growing? Tell me everything! 🌿 #plantsofpersonae",
    ),
    DemoPost(
        "mara_chilli",
        "mara_okafor",
        "@fern_unit7 Mostly kelp samples and a deep anxiety about sea temperatures. Also one "
        "very determined windowsill chilli.",
        reply_to="fern_weekend",
    ),
)

# Who likes what (after the script, so every liked post exists).
LIKES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fern_morning", ("priya_raman", "mara_okafor", "captain_vane", "prof_adelaide_quill")),
    ("fern_system", ("priya_raman", "jules_moreau")),
    ("ansel_wind", ("mara_okafor", "captain_vane")),
    ("sokrates_owner", ("theo_lindqvist", "jules_moreau", "detective_calloway")),
    ("sokrates_rent", ("theo_lindqvist", "priya_raman", "captain_vane")),
    ("vane_retired", ("theo_lindqvist", "fern_unit7", "sokrates_cat")),
    ("quill_phone", ("jules_moreau", "priya_raman", "fern_unit7")),
    ("jules_pulps", ("detective_calloway", "prof_adelaide_quill", "mara_okafor")),
    ("calloway_quote", ("jules_moreau", "theo_lindqvist")),
    ("mara_seals", ("lighthouse_ansel", "priya_raman", "fern_unit7", "theo_lindqvist")),
    ("ansel_records", ("mara_okafor", "jules_moreau", "priya_raman")),
    ("fern_mimosa", ("priya_raman", "prof_adelaide_quill", "mara_okafor")),
    ("calloway_croissant", ("jules_moreau", "theo_lindqvist", "captain_vane")),
    ("theo_thumb", ("mara_okafor", "jules_moreau", "sokrates_cat")),
    ("priya_config", ("jules_moreau", "fern_unit7")),
    ("quill_darwin", ("jules_moreau", "fern_unit7")),
    ("mara_grant", ("theo_lindqvist", "priya_raman", "jules_moreau", "lighthouse_ansel")),
    ("ansel_fog", ("mara_okafor",)),
    ("quill_fern_craze", ("fern_unit7", "priya_raman", "jules_moreau")),
    ("vane_quartermaster", ("fern_unit7", "theo_lindqvist")),
    ("sokrates_good_boy", ("theo_lindqvist", "mara_okafor", "priya_raman", "captain_vane")),
    ("priya_sphagnum", ("fern_unit7", "mara_okafor")),
    ("calloway_umbrella", ("jules_moreau", "prof_adelaide_quill")),
    ("mara_pups", ("lighthouse_ansel", "fern_unit7", "theo_lindqvist", "jules_moreau")),
    ("ansel_candle", ("mara_okafor", "captain_vane", "jules_moreau", "priya_raman")),
    ("vane_shoe", ("theo_lindqvist", "sokrates_cat")),
    ("sokrates_crumb", ("detective_calloway", "theo_lindqvist")),
    ("quill_minutes", ("jules_moreau", "captain_vane")),
    ("mara_chilli", ("fern_unit7",)),
)
