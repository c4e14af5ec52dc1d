"""cms app passwords: WordPress application passwords of instances for named apps (who each is for,
never the password)

Revision ID: 9152235c93c3
Revises: 7e102024172f
Create Date: 2026-12-07 09:19:20
"""

import sqlalchemy as sa
from alembic import op

import panel.db


revision = '9152235c93c3'
down_revision = '7e102024172f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cms_app_passwords',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('wp_user', sa.String(length=60), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'ACTIVE', 'FAILED', 'REVOKING', 'REVOKED', name='apppasswordstatus', native_enum=False, length=10), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('busy_job_id', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_at', panel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', panel.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['busy_job_id'], ['jobs.id'], name=op.f('fk_cms_app_passwords_busy_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['instance_id'], ['cms_instances.id'], name=op.f('fk_cms_app_passwords_instance_id_cms_instances'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_cms_app_passwords_org_id_organizations')),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_cms_app_passwords_request_id_requests'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cms_app_passwords'))
    )
    with op.batch_alter_table('cms_app_passwords', schema=None) as batch_op:
        batch_op.create_index('ix_cms_app_passwords_instance_id_id', ['instance_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cms_app_passwords_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cms_app_passwords_request_id'), ['request_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cms_app_passwords', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cms_app_passwords_request_id'))
        batch_op.drop_index(batch_op.f('ix_cms_app_passwords_org_id'))
        batch_op.drop_index('ix_cms_app_passwords_instance_id_id')

    op.drop_table('cms_app_passwords')
