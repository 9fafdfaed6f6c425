--
-- PostgreSQL database dump
--

\restrict 6TJ7QNtEqexmBxKOlGdsvbuuVnnZK8a1oGuMLMNhYUk63m83LsEm66JOggLPaz3

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: alert_rules; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alert_rules (
    id integer NOT NULL,
    chat character varying(200) NOT NULL,
    kpi character varying(40) NOT NULL,
    op character varying(2) NOT NULL,
    threshold double precision NOT NULL,
    by character varying(64),
    created_by character varying(200),
    created_at timestamp without time zone NOT NULL
);


--
-- Name: alert_rules_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.alert_rules_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: alert_rules_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.alert_rules_id_seq OWNED BY public.alert_rules.id;


--
-- Name: alerts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alerts (
    id integer NOT NULL,
    chat character varying(200) NOT NULL,
    series character varying(300) NOT NULL,
    source character varying(20) NOT NULL,
    day character varying(10) NOT NULL,
    last_day character varying(10) NOT NULL,
    status character varying(10) NOT NULL,
    severity character varying(10) NOT NULL,
    score double precision NOT NULL,
    details json NOT NULL,
    opened_at timestamp without time zone NOT NULL,
    notified_at timestamp without time zone,
    notified_score double precision NOT NULL,
    acked_by character varying(200),
    acked_at timestamp without time zone,
    assignee character varying(200),
    snoozed_until timestamp without time zone,
    snoozed_by character varying(200),
    closed_at timestamp without time zone,
    note character varying(200)
);


--
-- Name: alerts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.alerts_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: alerts_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.alerts_id_seq OWNED BY public.alerts.id;


--
-- Name: apscheduler_jobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.apscheduler_jobs (
    id character varying(191) NOT NULL,
    next_run_time double precision,
    job_state bytea NOT NULL
);


--
-- Name: audit_log; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_log (
    id integer NOT NULL,
    at timestamp without time zone NOT NULL,
    chat character varying(200) NOT NULL,
    "user" character varying(200) NOT NULL,
    command character varying(500) NOT NULL,
    outcome character varying(40) NOT NULL,
    duration_ms integer NOT NULL
);


--
-- Name: audit_log_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.audit_log_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: audit_log_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.audit_log_id_seq OWNED BY public.audit_log.id;


--
-- Name: blobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.blobs (
    sha256 character varying(64) NOT NULL,
    data bytea NOT NULL,
    created_at timestamp without time zone NOT NULL
);


--
-- Name: campaigns; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.campaigns (
    id integer NOT NULL,
    name character varying(100) NOT NULL,
    start date NOT NULL,
    "end" date NOT NULL,
    channels json NOT NULL,
    spend double precision,
    chat character varying(200),
    created_by character varying(200),
    created_at timestamp without time zone NOT NULL
);


--
-- Name: campaigns_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.campaigns_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: campaigns_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.campaigns_id_seq OWNED BY public.campaigns.id;


--
-- Name: chat_settings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.chat_settings (
    chat character varying(200) NOT NULL,
    language character varying(8),
    updated_by character varying(200),
    updated_at timestamp without time zone NOT NULL
);


--
-- Name: goal_targets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.goal_targets (
    id integer NOT NULL,
    goal_id integer NOT NULL,
    day date NOT NULL,
    units bigint NOT NULL,
    scale integer NOT NULL
);


--
-- Name: goal_targets_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.goal_targets_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: goal_targets_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.goal_targets_id_seq OWNED BY public.goal_targets.id;


--
-- Name: goals; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.goals (
    id integer NOT NULL,
    metric character varying(40) NOT NULL,
    kind character varying(10) NOT NULL,
    target double precision NOT NULL,
    start date NOT NULL,
    "end" date NOT NULL,
    label character varying(60) NOT NULL,
    chat character varying(200),
    created_by character varying(200),
    created_at timestamp without time zone NOT NULL,
    profile json
);


--
-- Name: goals_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.goals_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: goals_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.goals_id_seq OWNED BY public.goals.id;


--
-- Name: leases; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.leases (
    name character varying(50) NOT NULL,
    holder character varying(100) NOT NULL,
    expires_at timestamp without time zone NOT NULL
);


--
-- Name: outbox; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.outbox (
    id integer NOT NULL,
    key character varying(300) NOT NULL,
    chat character varying(200) NOT NULL,
    payload json NOT NULL,
    fingerprint character varying(64),
    status character varying(10) NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at timestamp without time zone NOT NULL,
    claimed_by character varying(100),
    claimed_at timestamp without time zone,
    message_id character varying(200),
    sent_chat character varying(200),
    last_error text,
    created_at timestamp without time zone NOT NULL,
    sent_at timestamp without time zone,
    edited_at timestamp without time zone
);


--
-- Name: outbox_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.outbox_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: outbox_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.outbox_id_seq OWNED BY public.outbox.id;


--
-- Name: spend_plans; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.spend_plans (
    id integer NOT NULL,
    start date NOT NULL,
    "end" date NOT NULL,
    channel character varying(100) NOT NULL,
    amount double precision NOT NULL,
    objective character varying(40) NOT NULL,
    expected double precision,
    goal_id integer,
    created_by character varying(200),
    created_at timestamp without time zone NOT NULL
);


--
-- Name: spend_plans_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.spend_plans_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: spend_plans_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.spend_plans_id_seq OWNED BY public.spend_plans.id;


--
-- Name: subscriptions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.subscriptions (
    id integer NOT NULL,
    chat character varying(200) NOT NULL,
    kind character varying(20) NOT NULL,
    cadence character varying(10) NOT NULL,
    weekday character varying(3),
    at character varying(5) NOT NULL,
    timezone character varying(64) NOT NULL,
    metrics json NOT NULL,
    by character varying(64),
    wait_until character varying(5),
    paused boolean NOT NULL,
    paused_reason character varying(200),
    source character varying(10) NOT NULL,
    created_by character varying(200),
    created_at timestamp without time zone NOT NULL
);


--
-- Name: subscriptions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.subscriptions_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: subscriptions_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.subscriptions_id_seq OWNED BY public.subscriptions.id;


--
-- Name: alert_rules id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_rules ALTER COLUMN id SET DEFAULT nextval('public.alert_rules_id_seq'::regclass);


--
-- Name: alerts id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alerts ALTER COLUMN id SET DEFAULT nextval('public.alerts_id_seq'::regclass);


--
-- Name: audit_log id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_log ALTER COLUMN id SET DEFAULT nextval('public.audit_log_id_seq'::regclass);


--
-- Name: campaigns id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.campaigns ALTER COLUMN id SET DEFAULT nextval('public.campaigns_id_seq'::regclass);


--
-- Name: goal_targets id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.goal_targets ALTER COLUMN id SET DEFAULT nextval('public.goal_targets_id_seq'::regclass);


--
-- Name: goals id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.goals ALTER COLUMN id SET DEFAULT nextval('public.goals_id_seq'::regclass);


--
-- Name: outbox id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outbox ALTER COLUMN id SET DEFAULT nextval('public.outbox_id_seq'::regclass);


--
-- Name: spend_plans id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spend_plans ALTER COLUMN id SET DEFAULT nextval('public.spend_plans_id_seq'::regclass);


--
-- Name: subscriptions id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscriptions ALTER COLUMN id SET DEFAULT nextval('public.subscriptions_id_seq'::regclass);


--
-- Data for Name: alert_rules; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.alert_rules VALUES (1, 'slack:COPS', 'refund_rate', '>', 0.05, NULL, 'slack:UADMIN', '2026-12-03 14:33:41.681672');


--
-- Data for Name: alerts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.alerts VALUES (1, 'slack:COPS', 'sessions|channel=direct', 'detector', '2026-10-13', '2026-10-13', 'open', 'critical', -7.242128385931933, '{"kpi": "sessions", "dimension": "channel", "value": "direct", "day": "2026-10-13", "actual": 527.0, "expected": 1364.5, "change": -0.613778, "score": -7.24, "direction": "down", "severity": "critical", "volume": 1448.5, "root_causes": {}, "aov": 417.1476148762872, "money_at_stake": null}', '2026-10-13 23:30:00', '2026-10-13 23:30:00', -7.242128385931933, NULL, NULL, NULL, NULL, NULL, NULL, NULL);


--
-- Data for Name: apscheduler_jobs; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.apscheduler_jobs VALUES ('sub:1', 1791939600, '\x80059514040000000000007d94288c0776657273696f6e944b018c026964948c057375623a31948c0466756e63948c1e626f742e7363686564756c65723a72756e5f737562736372697074696f6e948c0774726967676572948c1961707363686564756c65722e74726967676572732e63726f6e948c0b43726f6e547269676765729493942981947d942868014b028c0874696d657a6f6e65948c086275696c74696e73948c07676574617474729493948c087a6f6e65696e666f948c085a6f6e65496e666f9493948c095f756e7069636b6c6594869452948c0d417369612f5368616e67686169944b01869452948c0a73746172745f64617465944e8c08656e645f64617465944e8c066669656c6473945d94288c2061707363686564756c65722e74726967676572732e63726f6e2e6669656c6473948c09426173654669656c649493942981947d94288c046e616d65948c0479656172948c0a69735f64656661756c7494888c0b65787072657373696f6e73945d948c2561707363686564756c65722e74726967676572732e63726f6e2e65787072657373696f6e73948c0d416c6c45787072657373696f6e9493942981947d948c0473746570944e7362617562681d8c0a4d6f6e74684669656c649493942981947d942868228c056d6f6e74689468248868255d9468292981947d94682c4e7362617562681d8c0f4461794f664d6f6e74684669656c649493942981947d942868228c036461799468248868255d9468292981947d94682c4e7362617562681d8c095765656b4669656c649493942981947d942868228c047765656b9468248868255d9468292981947d94682c4e7362617562681d8c0e4461794f665765656b4669656c649493942981947d942868228c0b6461795f6f665f7765656b9468248868255d9468292981947d94682c4e7362617562681f2981947d942868228c04686f75729468248968255d9468278c0f52616e676545787072657373696f6e9493942981947d9428682c4e8c056669727374944b098c046c617374944b097562617562681f2981947d942868228c066d696e7574659468248968255d9468522981947d9428682c4e68554b0068564b007562617562681f2981947d942868228c067365636f6e649468248868255d9468522981947d9428682c4e68554b0068564b007562617562658c066a6974746572944e75628c086578656375746f72948c0764656661756c74948c0461726773944b0185948c066b7761726773947d9468228c1164696765737420736c61636b3a434f5053948c126d6973666972655f67726163655f74696d65944d60548c08636f616c6573636594888c0d6d61785f696e7374616e636573944b018c0d6e6578745f72756e5f74696d65948c086461746574696d65948c086461746574696d65949394430a07ea0a0e09000000000094681886945294752e');


--
-- Data for Name: audit_log; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.audit_log VALUES (1, '2026-12-03 14:33:41.564177', 'slack:COPS', 'slack:UADMIN', 'subscribe digest daily 09:00', 'ok', 11);
INSERT INTO public.audit_log VALUES (2, '2026-12-03 14:33:41.670878', 'slack:COPS', 'slack:UADMIN', 'goal set gmv 3000000 2026Q4', 'ok', 104);
INSERT INTO public.audit_log VALUES (3, '2026-12-03 14:33:41.680014', 'slack:COPS', 'slack:UADMIN', 'campaign add 双11 2026-11-08..2026-11-12', 'ok', 7);
INSERT INTO public.audit_log VALUES (4, '2026-12-03 14:33:41.683483', 'slack:COPS', 'slack:UADMIN', 'alert add refund_rate > 5% daily', 'ok', 2);
INSERT INTO public.audit_log VALUES (5, '2026-12-03 14:33:41.695669', 'slack:COPS', 'slack:UADMIN', 'kpi gmv yesterday', 'ok', 10);
INSERT INTO public.audit_log VALUES (6, '2026-12-03 14:33:41.702941', 'slack:COPS', 'slack:UADMIN', 'goals', 'ok', 5);
INSERT INTO public.audit_log VALUES (7, '2026-12-03 14:33:41.708046', 'slack:CZH', 'slack:UADMIN', 'lang zh', 'ok', 3);
INSERT INTO public.audit_log VALUES (8, '2026-12-03 14:33:42.145229', 'slack:COPS', 'opsbot:push', 'fixture:delivered', 'sent', 3);


--
-- Data for Name: blobs; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: campaigns; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.campaigns VALUES (1, '双11', '2026-11-08', '2026-11-13', '[]', NULL, 'slack:COPS', 'slack:UADMIN', '2026-12-03 14:33:41.677866');


--
-- Data for Name: chat_settings; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.chat_settings VALUES ('slack:CZH', 'zh', 'slack:UADMIN', '2026-12-03 14:33:41.70608');


--
-- Data for Name: goal_targets; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.goal_targets VALUES (1, 1, '2026-10-01', 3143611, 100);
INSERT INTO public.goal_targets VALUES (2, 1, '2026-10-02', 3042475, 100);
INSERT INTO public.goal_targets VALUES (3, 1, '2026-10-03', 3394533, 100);
INSERT INTO public.goal_targets VALUES (4, 1, '2026-10-04', 3507493, 100);
INSERT INTO public.goal_targets VALUES (5, 1, '2026-10-05', 2751036, 100);
INSERT INTO public.goal_targets VALUES (6, 1, '2026-10-06', 2820138, 100);
INSERT INTO public.goal_targets VALUES (7, 1, '2026-10-07', 3096267, 100);
INSERT INTO public.goal_targets VALUES (8, 1, '2026-10-08', 3143611, 100);
INSERT INTO public.goal_targets VALUES (9, 1, '2026-10-09', 3042475, 100);
INSERT INTO public.goal_targets VALUES (10, 1, '2026-10-10', 3394533, 100);
INSERT INTO public.goal_targets VALUES (11, 1, '2026-10-11', 3507493, 100);
INSERT INTO public.goal_targets VALUES (12, 1, '2026-10-12', 2751036, 100);
INSERT INTO public.goal_targets VALUES (13, 1, '2026-10-13', 2820138, 100);
INSERT INTO public.goal_targets VALUES (14, 1, '2026-10-14', 3096267, 100);
INSERT INTO public.goal_targets VALUES (15, 1, '2026-10-15', 3143611, 100);
INSERT INTO public.goal_targets VALUES (16, 1, '2026-10-16', 3042475, 100);
INSERT INTO public.goal_targets VALUES (17, 1, '2026-10-17', 3394533, 100);
INSERT INTO public.goal_targets VALUES (18, 1, '2026-10-18', 3507493, 100);
INSERT INTO public.goal_targets VALUES (19, 1, '2026-10-19', 2751036, 100);
INSERT INTO public.goal_targets VALUES (20, 1, '2026-10-20', 2820138, 100);
INSERT INTO public.goal_targets VALUES (21, 1, '2026-10-21', 3096267, 100);
INSERT INTO public.goal_targets VALUES (22, 1, '2026-10-22', 3143611, 100);
INSERT INTO public.goal_targets VALUES (23, 1, '2026-10-23', 3042475, 100);
INSERT INTO public.goal_targets VALUES (24, 1, '2026-10-24', 3394533, 100);
INSERT INTO public.goal_targets VALUES (25, 1, '2026-10-25', 3507493, 100);
INSERT INTO public.goal_targets VALUES (26, 1, '2026-10-26', 2751036, 100);
INSERT INTO public.goal_targets VALUES (27, 1, '2026-10-27', 2820138, 100);
INSERT INTO public.goal_targets VALUES (28, 1, '2026-10-28', 3096267, 100);
INSERT INTO public.goal_targets VALUES (29, 1, '2026-10-29', 3143611, 100);
INSERT INTO public.goal_targets VALUES (30, 1, '2026-10-30', 3042475, 100);
INSERT INTO public.goal_targets VALUES (31, 1, '2026-10-31', 3394533, 100);
INSERT INTO public.goal_targets VALUES (32, 1, '2026-11-01', 3507493, 100);
INSERT INTO public.goal_targets VALUES (33, 1, '2026-11-02', 2751036, 100);
INSERT INTO public.goal_targets VALUES (34, 1, '2026-11-03', 2820138, 100);
INSERT INTO public.goal_targets VALUES (35, 1, '2026-11-04', 3096267, 100);
INSERT INTO public.goal_targets VALUES (36, 1, '2026-11-05', 3143611, 100);
INSERT INTO public.goal_targets VALUES (37, 1, '2026-11-06', 3042475, 100);
INSERT INTO public.goal_targets VALUES (38, 1, '2026-11-07', 3394533, 100);
INSERT INTO public.goal_targets VALUES (39, 1, '2026-11-08', 3507493, 100);
INSERT INTO public.goal_targets VALUES (40, 1, '2026-11-09', 4156098, 100);
INSERT INTO public.goal_targets VALUES (41, 1, '2026-11-10', 6302607, 100);
INSERT INTO public.goal_targets VALUES (42, 1, '2026-11-11', 12242938, 100);
INSERT INTO public.goal_targets VALUES (43, 1, '2026-11-12', 3143611, 100);
INSERT INTO public.goal_targets VALUES (44, 1, '2026-11-13', 3042475, 100);
INSERT INTO public.goal_targets VALUES (45, 1, '2026-11-14', 3394533, 100);
INSERT INTO public.goal_targets VALUES (46, 1, '2026-11-15', 3507493, 100);
INSERT INTO public.goal_targets VALUES (47, 1, '2026-11-16', 2751036, 100);
INSERT INTO public.goal_targets VALUES (48, 1, '2026-11-17', 2820138, 100);
INSERT INTO public.goal_targets VALUES (49, 1, '2026-11-18', 3096267, 100);
INSERT INTO public.goal_targets VALUES (50, 1, '2026-11-19', 3143611, 100);
INSERT INTO public.goal_targets VALUES (51, 1, '2026-11-20', 3042475, 100);
INSERT INTO public.goal_targets VALUES (52, 1, '2026-11-21', 3394533, 100);
INSERT INTO public.goal_targets VALUES (53, 1, '2026-11-22', 3507493, 100);
INSERT INTO public.goal_targets VALUES (54, 1, '2026-11-23', 2751036, 100);
INSERT INTO public.goal_targets VALUES (55, 1, '2026-11-24', 2820138, 100);
INSERT INTO public.goal_targets VALUES (56, 1, '2026-11-25', 3096267, 100);
INSERT INTO public.goal_targets VALUES (57, 1, '2026-11-26', 3143611, 100);
INSERT INTO public.goal_targets VALUES (58, 1, '2026-11-27', 3042475, 100);
INSERT INTO public.goal_targets VALUES (59, 1, '2026-11-28', 3394533, 100);
INSERT INTO public.goal_targets VALUES (60, 1, '2026-11-29', 3507493, 100);
INSERT INTO public.goal_targets VALUES (61, 1, '2026-11-30', 2751036, 100);
INSERT INTO public.goal_targets VALUES (62, 1, '2026-12-01', 2820138, 100);
INSERT INTO public.goal_targets VALUES (63, 1, '2026-12-02', 3096267, 100);
INSERT INTO public.goal_targets VALUES (64, 1, '2026-12-03', 3143611, 100);
INSERT INTO public.goal_targets VALUES (65, 1, '2026-12-04', 3042475, 100);
INSERT INTO public.goal_targets VALUES (66, 1, '2026-12-05', 3394533, 100);
INSERT INTO public.goal_targets VALUES (67, 1, '2026-12-06', 3507493, 100);
INSERT INTO public.goal_targets VALUES (68, 1, '2026-12-07', 2751036, 100);
INSERT INTO public.goal_targets VALUES (69, 1, '2026-12-08', 2820138, 100);
INSERT INTO public.goal_targets VALUES (70, 1, '2026-12-09', 3096267, 100);
INSERT INTO public.goal_targets VALUES (71, 1, '2026-12-10', 3143611, 100);
INSERT INTO public.goal_targets VALUES (72, 1, '2026-12-11', 3042475, 100);
INSERT INTO public.goal_targets VALUES (73, 1, '2026-12-12', 3394533, 100);
INSERT INTO public.goal_targets VALUES (74, 1, '2026-12-13', 3507493, 100);
INSERT INTO public.goal_targets VALUES (75, 1, '2026-12-14', 2751036, 100);
INSERT INTO public.goal_targets VALUES (76, 1, '2026-12-15', 2820138, 100);
INSERT INTO public.goal_targets VALUES (77, 1, '2026-12-16', 3096267, 100);
INSERT INTO public.goal_targets VALUES (78, 1, '2026-12-17', 3143611, 100);
INSERT INTO public.goal_targets VALUES (79, 1, '2026-12-18', 3042475, 100);
INSERT INTO public.goal_targets VALUES (80, 1, '2026-12-19', 3394533, 100);
INSERT INTO public.goal_targets VALUES (81, 1, '2026-12-20', 3507492, 100);
INSERT INTO public.goal_targets VALUES (82, 1, '2026-12-21', 2751036, 100);
INSERT INTO public.goal_targets VALUES (83, 1, '2026-12-22', 2820138, 100);
INSERT INTO public.goal_targets VALUES (84, 1, '2026-12-23', 3096267, 100);
INSERT INTO public.goal_targets VALUES (85, 1, '2026-12-24', 3143611, 100);
INSERT INTO public.goal_targets VALUES (86, 1, '2026-12-25', 3042475, 100);
INSERT INTO public.goal_targets VALUES (87, 1, '2026-12-26', 3394533, 100);
INSERT INTO public.goal_targets VALUES (88, 1, '2026-12-27', 3507492, 100);
INSERT INTO public.goal_targets VALUES (89, 1, '2026-12-28', 2751036, 100);
INSERT INTO public.goal_targets VALUES (90, 1, '2026-12-29', 2820138, 100);
INSERT INTO public.goal_targets VALUES (91, 1, '2026-12-30', 3096267, 100);
INSERT INTO public.goal_targets VALUES (92, 1, '2026-12-31', 3143611, 100);


--
-- Data for Name: goals; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.goals VALUES (1, 'gmv', 'sum', 3000000, '2026-10-01', '2027-01-01', '2026Q4', 'slack:COPS', 'slack:UADMIN', '2026-12-03 14:33:41.635352', '{"weekday": [0.8882, 0.9105, 0.9996, 1.0149, 0.9822, 1.0959, 1.1324], "month": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "promo": {"11-09": 1.5107, "11-10": 2.2349, "11-11": 3.9541}, "growth_per_year": 0.0, "history_days": 120}');


--
-- Data for Name: leases; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.leases VALUES ('scheduler', 'fixture-host:1', '2026-12-03 14:34:42.177575');


--
-- Data for Name: outbox; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.outbox VALUES (1, 'alerts:slack:COPS:2026-10-13:d01ed3f58194', 'slack:COPS', '{"title": "1 anomaly alert(s) \u00b7 2026-10-13", "text": ["\ud83d\udea8 #1 Sessions \u00b7 channel=direct 527, expected 1,364 (-61%)."], "fields": [], "tables": [], "charts": [], "files": [], "actions": [{"label": "Ack #1", "command": "ack 1", "style": "primary"}, {"label": "Assign to me", "command": "assign 1", "style": null}, {"label": "Snooze 4h", "command": "snooze 1 4h", "style": null}, {"label": "Snooze 1d", "command": "snooze 1 1d", "style": null}, {"label": "Expected", "command": "expected 1", "style": null}], "footer": null, "data": {"day": "2026-10-13", "alerts": [{"id": 1, "series": "sessions|channel=direct", "severity": "critical", "kpi": "sessions", "dimension": "channel", "value": "direct", "day": "2026-10-13", "actual": 527.0, "expected": 1364.5, "change": -0.613778, "score": -7.24, "direction": "down", "volume": 1448.5, "root_causes": {}, "aov": 417.1476148762872, "money_at_stake": null}], "recovered": [], "chat": "slack:COPS"}, "error": false}', NULL, 'pending', 0, '2026-12-03 14:33:42.127547', 'vm:26415', '2026-12-03 14:33:42.131208', NULL, NULL, NULL, '2026-12-03 14:33:42.127562', NULL, NULL);
INSERT INTO public.outbox VALUES (2, 'fixture:delivered', 'slack:COPS', '{"title": "Delivered before the upgrade", "text": [], "fields": [], "tables": [], "charts": [], "files": [], "actions": [], "footer": null, "data": {}, "error": false}', NULL, 'sent', 0, '2026-12-03 14:33:42.130621', 'vm:26415', '2026-12-03 14:33:42.131208', '1700000000.000001', 'slack:COPS', NULL, '2026-12-03 14:33:42.130629', '2026-12-03 14:33:42.143159', NULL);


--
-- Data for Name: spend_plans; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: subscriptions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.subscriptions VALUES (1, 'slack:COPS', 'digest', 'daily', NULL, '09:00', 'Asia/Shanghai', '[]', NULL, NULL, false, NULL, 'chat', 'slack:UADMIN', '2026-12-03 14:33:41.557333');


--
-- Name: alert_rules_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.alert_rules_id_seq', 1, true);


--
-- Name: alerts_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.alerts_id_seq', 1, true);


--
-- Name: audit_log_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.audit_log_id_seq', 8, true);


--
-- Name: campaigns_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.campaigns_id_seq', 1, true);


--
-- Name: goal_targets_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.goal_targets_id_seq', 92, true);


--
-- Name: goals_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.goals_id_seq', 1, true);


--
-- Name: outbox_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.outbox_id_seq', 2, true);


--
-- Name: spend_plans_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.spend_plans_id_seq', 1, false);


--
-- Name: subscriptions_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.subscriptions_id_seq', 1, true);


--
-- Name: alert_rules alert_rules_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_rules
    ADD CONSTRAINT alert_rules_pkey PRIMARY KEY (id);


--
-- Name: alerts alerts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alerts
    ADD CONSTRAINT alerts_pkey PRIMARY KEY (id);


--
-- Name: apscheduler_jobs apscheduler_jobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.apscheduler_jobs
    ADD CONSTRAINT apscheduler_jobs_pkey PRIMARY KEY (id);


--
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);


--
-- Name: blobs blobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.blobs
    ADD CONSTRAINT blobs_pkey PRIMARY KEY (sha256);


--
-- Name: campaigns campaigns_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.campaigns
    ADD CONSTRAINT campaigns_pkey PRIMARY KEY (id);


--
-- Name: chat_settings chat_settings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.chat_settings
    ADD CONSTRAINT chat_settings_pkey PRIMARY KEY (chat);


--
-- Name: goal_targets goal_targets_goal_id_day_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.goal_targets
    ADD CONSTRAINT goal_targets_goal_id_day_key UNIQUE (goal_id, day);


--
-- Name: goal_targets goal_targets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.goal_targets
    ADD CONSTRAINT goal_targets_pkey PRIMARY KEY (id);


--
-- Name: goals goals_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.goals
    ADD CONSTRAINT goals_pkey PRIMARY KEY (id);


--
-- Name: leases leases_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.leases
    ADD CONSTRAINT leases_pkey PRIMARY KEY (name);


--
-- Name: outbox outbox_key_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_key_key UNIQUE (key);


--
-- Name: outbox outbox_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);


--
-- Name: spend_plans spend_plans_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spend_plans
    ADD CONSTRAINT spend_plans_pkey PRIMARY KEY (id);


--
-- Name: subscriptions subscriptions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscriptions
    ADD CONSTRAINT subscriptions_pkey PRIMARY KEY (id);


--
-- Name: ix_alert_rules_chat; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_alert_rules_chat ON public.alert_rules USING btree (chat);


--
-- Name: ix_alerts_chat; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_alerts_chat ON public.alerts USING btree (chat);


--
-- Name: ix_alerts_series; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_alerts_series ON public.alerts USING btree (series);


--
-- Name: ix_alerts_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_alerts_status ON public.alerts USING btree (status);


--
-- Name: ix_apscheduler_jobs_next_run_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_apscheduler_jobs_next_run_time ON public.apscheduler_jobs USING btree (next_run_time);


--
-- Name: ix_audit_log_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_audit_log_at ON public.audit_log USING btree (at);


--
-- Name: ix_campaigns_name; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_campaigns_name ON public.campaigns USING btree (name);


--
-- Name: ix_goal_targets_goal_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_goal_targets_goal_id ON public.goal_targets USING btree (goal_id);


--
-- Name: ix_goals_metric; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_goals_metric ON public.goals USING btree (metric);


--
-- Name: ix_outbox_chat; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_outbox_chat ON public.outbox USING btree (chat);


--
-- Name: ix_outbox_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_outbox_status ON public.outbox USING btree (status);


--
-- Name: ix_subscriptions_chat; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_subscriptions_chat ON public.subscriptions USING btree (chat);


--
-- Name: goal_targets goal_targets_goal_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.goal_targets
    ADD CONSTRAINT goal_targets_goal_id_fkey FOREIGN KEY (goal_id) REFERENCES public.goals(id) ON DELETE CASCADE;


--
-- Name: spend_plans spend_plans_goal_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.spend_plans
    ADD CONSTRAINT spend_plans_goal_id_fkey FOREIGN KEY (goal_id) REFERENCES public.goals(id) ON DELETE SET NULL;


--
-- PostgreSQL database dump complete
--

\unrestrict 6TJ7QNtEqexmBxKOlGdsvbuuVnnZK8a1oGuMLMNhYUk63m83LsEm66JOggLPaz3

