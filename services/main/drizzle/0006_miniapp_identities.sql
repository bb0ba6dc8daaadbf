-- Seed 001's mini program users: one row per (appid, openid), found or created at wx.login; an openid
-- belongs to one user and a user has at most one openid per mini program.
CREATE TABLE "miniapp_identities" (
	"appid" text NOT NULL,
	"openid" text NOT NULL,
	"user_id" bigint NOT NULL REFERENCES "users"("id"),
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "miniapp_identities_pk" PRIMARY KEY("appid","openid")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "miniapp_identities_user_key" ON "miniapp_identities" ("appid","user_id");
