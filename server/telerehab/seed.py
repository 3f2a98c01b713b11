"""Demo content of the telerehab domain: the ten global library exercises (kinematics from
pipelines.pose's library), a global starter plan, and an assignment of it to every demo patient.
The first demo patient started theirs three weeks ago and has done its first session three times
since (range of motion rising, pain falling), each with its post-session questionnaire: the
session report of the last one is rendered by `cadence seed demo` (server/records/demo_documents).

Global rows are shared by every demo clinic, so they are created only when absent (by slug, by
plan name); each demo clinic gets its own assignments. Runs after the identity and scheduling
seeders inside the one platform transaction of `cadence seed demo`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from pipelines.pose import EXERCISES
from server.seed import DemoSeed, seeder
from storage.audit import SYSTEM
from storage.telerehab import (
    ExerciseFilter,
    ExerciseSummary,
    NotFound,
    SessionRecord,
    assign_plan,
    create_exercise,
    create_plan,
    find_global_plan,
    get_version,
    list_exercises,
    load_assigned_plan,
    publish,
    record_completion,
    record_questionnaire,
)

DEMO_PLAN_NAME = "Lower-limb and shoulder starter (demo)"
DEMO_FREQUENCY = {"weekdays": [1, 3, 5]}
DEMO_WEEKS = 6

# Library text for each pipelines.pose slug: category, body region, equipment, difficulty, tags,
# steps, contraindications, and a Romanian translation of the name (global text is translated).
_T = dict[str, Any]
LIBRARY: dict[str, _T] = {
    "squat": {
        "category": "strength", "body_region": "knee", "equipment": ["none"],
        "difficulty": "intermediate", "tags": ["quadriceps", "glutes", "closed_chain"],
        "description": "Bodyweight squat to strengthen the quadriceps and glutes.",
        "instructions": ["Stand with feet hip-width apart, toes slightly out.",
                         "Push your hips back and bend your knees as if sitting on a chair.",
                         "Go down until your thighs are about parallel to the floor.",
                         "Push through your heels to stand up straight."],
        "contraindications": ["Acute knee pain or effusion",
                              "Within 6 weeks of knee or hip surgery unless cleared"],
        "ro": "Genuflexiune",
    },
    "sit_to_stand": {
        "category": "functional", "body_region": "knee", "equipment": ["chair"],
        "difficulty": "beginner", "tags": ["quadriceps", "transfers", "falls_prevention"],
        "description": "Rise from a chair without using your hands; a daily-life strength test.",
        "instructions": ["Sit near the front of a sturdy chair, feet flat and hip-width apart.",
                         "Cross your arms over your chest.",
                         "Lean forward slightly and stand up fully.",
                         "Sit back down slowly and with control."],
        "contraindications": ["Unstable blood pressure or dizziness on standing"],
        "ro": "Ridicare de pe scaun",
    },
    "forward_lunge": {
        "category": "strength", "body_region": "knee", "equipment": ["none"],
        "difficulty": "advanced", "tags": ["quadriceps", "glutes", "balance"],
        "description": "Step forward into a lunge to build single-leg strength and balance.",
        "instructions": ["Stand tall with feet hip-width apart.",
                         "Take a long step forward with one leg.",
                         "Lower until both knees are bent about 90 degrees.",
                         "Push off the front foot to return to standing."],
        "contraindications": ["Poor balance without support", "Acute knee or ankle injury"],
        "ro": "Fandare înainte",
    },
    "heel_raise": {
        "category": "strength", "body_region": "ankle_foot", "equipment": ["wall"],
        "difficulty": "beginner", "tags": ["calf", "achilles", "balance"],
        "description": "Rise onto your toes to strengthen the calf muscles.",
        "instructions": ["Stand facing a wall, fingertips on it for balance.",
                         "Rise onto the balls of your feet as high as you can.",
                         "Hold for one second at the top.",
                         "Lower your heels slowly to the floor."],
        "contraindications": ["Acute Achilles tendon rupture or repair under 12 weeks"],
        "ro": "Ridicări pe vârfuri",
    },
    "glute_bridge": {
        "category": "strength", "body_region": "hip", "equipment": ["mat"],
        "difficulty": "beginner", "tags": ["glutes", "hamstrings", "core"],
        "description": "Lift your hips from the floor to strengthen the glutes.",
        "instructions": ["Lie on your back, knees bent, feet flat on the floor.",
                         "Tighten your tummy and squeeze your buttocks.",
                         "Lift your hips until shoulders, hips and knees are in line.",
                         "Hold for two seconds, then lower slowly."],
        "contraindications": ["Acute low back pain aggravated by extension"],
        "ro": "Pod fesier",
    },
    "seated_knee_extension": {
        "category": "strength", "body_region": "knee", "equipment": ["chair", "ankle_weight"],
        "difficulty": "beginner", "tags": ["quadriceps", "open_chain", "post_op"],
        "description": "Straighten the knee while seated to strengthen the quadriceps.",
        "instructions": ["Sit tall on a chair with your back against the backrest.",
                         "Straighten one knee until the leg is level.",
                         "Hold for one second with the thigh muscle tight.",
                         "Lower the foot slowly back to the floor."],
        "contraindications": ["Patellofemoral pain worsened by loaded extension"],
        "ro": "Extensie de genunchi din șezut",
    },
    "standing_hip_abduction": {
        "category": "strength", "body_region": "hip", "equipment": ["chair"],
        "difficulty": "beginner", "tags": ["glute_medius", "balance", "falls_prevention"],
        "description": "Lift the leg out to the side to strengthen the hip abductors.",
        "instructions": ["Stand tall holding the back of a chair, facing the camera.",
                         "Keeping the leg straight and toes forward, lift it out to the side.",
                         "Do not lean your trunk to the other side.",
                         "Lower the leg slowly."],
        "contraindications": ["Within 6 weeks of hip replacement unless cleared"],
        "ro": "Abducție de șold din ortostatism",
    },
    "shoulder_flexion": {
        "category": "mobility", "body_region": "shoulder", "equipment": ["none"],
        "difficulty": "beginner", "tags": ["range_of_motion", "post_op"],
        "description": "Raise the arm forward and up to restore shoulder range of motion.",
        "instructions": ["Stand side-on to the camera, arms by your sides.",
                         "With the elbow straight, raise the arm forward and up.",
                         "Go as high as you comfortably can without arching your back.",
                         "Lower the arm slowly."],
        "contraindications": ["Early rotator cuff repair: active elevation not yet allowed"],
        "ro": "Flexia umărului",
    },
    "shoulder_abduction": {
        "category": "mobility", "body_region": "shoulder", "equipment": ["none"],
        "difficulty": "beginner", "tags": ["range_of_motion", "symmetry"],
        "description": "Raise both arms out to the sides to restore shoulder range of motion.",
        "instructions": ["Stand facing the camera, arms by your sides, palms forward.",
                         "Raise both arms out to the sides, elbows straight.",
                         "Go up to shoulder height or higher if comfortable.",
                         "Lower both arms slowly and evenly."],
        "contraindications": ["Shoulder dislocation within the last 6 weeks"],
        "ro": "Abducția umerilor",
    },
    "biceps_curl": {
        "category": "strength", "body_region": "elbow", "equipment": ["dumbbell"],
        "difficulty": "beginner", "tags": ["biceps", "upper_limb"],
        "description": "Bend the elbow against a light weight to strengthen the biceps.",
        "instructions": ["Stand side-on to the camera holding a light weight, arm straight.",
                         "Keep your elbow by your side.",
                         "Bend the elbow to bring the weight towards your shoulder.",
                         "Lower it slowly until the arm is straight again."],
        "contraindications": ["Distal biceps tendon repair under 12 weeks"],
        "ro": "Flexia cotului cu gantera",
    },
}  # fmt: skip

# The demo plan: two alternating sessions, each exercise by slug with its dosage.
DEMO_SESSIONS: list[tuple[str, list[tuple[str, int, int, int, int]]]] = [
    ("Lower limb", [("sit_to_stand", 2, 8, 60, 0), ("squat", 2, 10, 60, 0),
                    ("heel_raise", 2, 12, 45, 1), ("glute_bridge", 2, 10, 45, 2)]),
    ("Upper limb", [("shoulder_flexion", 2, 10, 45, 0), ("shoulder_abduction", 2, 10, 45, 0),
                    ("biceps_curl", 2, 12, 45, 0)]),
]  # fmt: skip


# The first demo patient's history: three sessions of the plan's first session ("Lower limb"),
# a week apart, the last yesterday. Per exercise: (position, sets, reps, (min, mean, max) angle
# or None, pain); per session: days ago, minutes taken, questionnaire (pain, difficulty, note).
HISTORY_WEEKS = 3
_Logged = tuple[int, int, int, tuple[float, float, float] | None, int | None]
_Answers = tuple[int, int, str | None]
DEMO_HISTORY: list[tuple[int, int, _Answers, list[_Logged]]] = [
    (15, 24, (5, 7, None),
     [(0, 2, 14, (52.0, 58.0, 63.0), 4), (1, 2, 16, (55.0, 61.0, 66.0), 5),
      (2, 2, 24, (18.0, 21.0, 24.0), None), (3, 2, 18, (22.0, 26.0, 29.0), 3)]),
    (8, 22, (4, 6, None),
     [(0, 2, 16, (58.0, 64.0, 69.0), 3), (1, 2, 18, (61.0, 67.0, 72.0), 4),
      (2, 2, 24, (21.0, 24.0, 27.0), None), (3, 2, 20, (26.0, 30.0, 33.0), 2)]),
    (1, 21, (3, 5, "Knee a bit stiff on the first squats, easier by the second set."),
     [(0, 2, 16, (63.0, 69.0, 73.0), 2), (1, 2, 20, (66.0, 72.0, 76.0), 3),
      (2, 2, 24, (24.0, 27.0, 30.0), None), (3, 2, 20, (29.0, 33.0, 36.0), 1)]),
]  # fmt: skip


def exercise_data(slug: str) -> dict[str, Any]:
    """The library row of a pipelines.pose exercise (kinematics from its definition)."""
    text = LIBRARY[slug]
    return {
        "slug": slug,
        "name": EXERCISES[slug].name,
        "description": text["description"],
        "instructions": text["instructions"],
        "contraindications": text["contraindications"],
        "video_key": f"exercises/{slug}/demo.mp4",
        "image_key": f"exercises/{slug}/cover.jpg",
        "category": text["category"],
        "body_region": text["body_region"],
        "equipment": text["equipment"],
        "difficulty": text["difficulty"],
        "tags": text["tags"],
        "kinematics": EXERCISES[slug].kinematics.to_dict(),
        "translations": {"ro": {"name": text["ro"]}},
    }


async def ensure_global_exercises(conn: asyncpg.Connection) -> dict[str, uuid.UUID]:
    """The global library exercise id of every seeded slug, creating the absent ones."""
    ids: dict[str, uuid.UUID] = {}
    for slug in EXERCISES:
        found = await list_exercises(
            language=None, filters=ExerciseFilter(scope="global", slug=slug), limit=1
        )
        if found:
            ids[slug] = found[0][0].id
        else:
            created = await create_exercise(
                conn, org_id=None, data=exercise_data(slug), actor=SYSTEM
            )
            ids[slug] = created.id
    return ids


async def ensure_demo_plan(
    conn: asyncpg.Connection, exercise_ids: dict[str, uuid.UUID]
) -> uuid.UUID:
    plan_id = await find_global_plan(DEMO_PLAN_NAME)
    if plan_id is not None:
        return plan_id
    sessions = [
        {"name": name, "exercises": [
            {"exercise_id": str(exercise_ids[slug]), "sets": sets, "reps": reps,
             "rest_s": rest, "hold_s": hold}
            for slug, sets, reps, rest, hold in items]}
        for name, items in DEMO_SESSIONS
    ]  # fmt: skip
    plan, _ = await create_plan(
        conn,
        org_id=None,
        data={
            "name": DEMO_PLAN_NAME,
            "description": "Six weeks of home exercise, three times a week, alternating sessions.",
            "plan_type": "telerehab",
            "sessions": sessions,
        },
        actor=SYSTEM,
    )
    await publish(conn, plan.id, org_id=None, actor=SYSTEM)
    return plan.id


@seeder
async def seed_telerehab(conn: asyncpg.Connection, demo: DemoSeed) -> None:
    exercise_ids = await ensure_global_exercises(conn)
    plan_id = await ensure_demo_plan(conn, exercise_ids)
    try:
        version = await get_version(plan_id)
    except NotFound:  # a global plan of that name made by hand and never published
        return
    assigned: list[dict[str, Any]] = []
    if demo.organization_id is not None:
        org_id = uuid.UUID(str(demo.organization_id))
        today = datetime.now(UTC).date()
        for n, patient in enumerate(demo.patients):
            # The first patient's history needs an assignment that had started by then.
            starts_on = today - timedelta(weeks=HISTORY_WEEKS) if n == 0 else today
            created = await assign_plan(
                conn,
                org_id=org_id,
                patient_id=uuid.UUID(str(patient["id"])),
                data={
                    "plan_id": plan_id,
                    "plan_version": version.version,
                    "frequency": DEMO_FREQUENCY,
                    "starts_on": starts_on,
                    "ends_on": starts_on + timedelta(weeks=DEMO_WEEKS),
                },
                actor=SYSTEM,
            )
            assigned.append(
                {"id": str(created.id), "patient_id": str(created.patient_id),
                 "plan_id": str(plan_id), "plan_version": created.plan_version}
            )  # fmt: skip
    demo.extra["exercises"] = {slug: str(i) for slug, i in exercise_ids.items()}
    demo.extra["plan_assignments"] = assigned
    if assigned:
        first = uuid.UUID(assigned[0]["id"])
        demo.extra["session_completions"] = await seed_history(conn, demo, org_id, first)


async def seed_history(
    conn: asyncpg.Connection, demo: DemoSeed, org_id: uuid.UUID, assignment_id: uuid.UUID
) -> list[dict[str, Any]]:
    """DEMO_HISTORY recorded against the assignment, oldest first, through the writers the REST
    path and the session actors use (so the rows are what a real session leaves)."""
    prescribed = {e.position: e for e in (await load_assigned_plan(assignment_id)).exercises(0)}
    now = datetime.now(UTC).replace(microsecond=0)
    done: list[dict[str, Any]] = []
    for days_ago, minutes, (pain, difficulty, note), logged in DEMO_HISTORY:
        completed_at = now - timedelta(days=days_ago)
        exercises = [
            ExerciseSummary(
                position=position, exercise_id=prescribed[position].exercise_id,
                sets_done=sets, reps_done=reps, duration_s=minutes * 60 // len(logged),
                rom_min_deg=None if rom is None else rom[0],
                rom_mean_deg=None if rom is None else rom[1],
                rom_max_deg=None if rom is None else rom[2],
                pain=exercise_pain,
            )
            for position, sets, reps, rom, exercise_pain in logged
            if position in prescribed  # a hand-made plan of the demo's name may differ
        ]  # fmt: skip
        completion = await record_completion(
            conn,
            SessionRecord(
                assignment_id=assignment_id,
                session_index=0,
                started_at=completed_at - timedelta(minutes=minutes),
                completed_at=completed_at,
                exercises=exercises,
            ),
            org_id=org_id,
            actor=SYSTEM,
        )
        await record_questionnaire(
            conn, completion.id, pain=pain, difficulty=difficulty, note=note, org_id=org_id,
            actor=SYSTEM, keys=demo.keys,
        )  # fmt: skip
        done.append(
            {"id": str(completion.id), "assignment_id": str(assignment_id),
             "completed_at": completed_at.isoformat()}
        )  # fmt: skip
    return done
